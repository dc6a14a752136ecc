# Streaming variant of openai_chat_image_url.py asking for usage the OpenAI way
# (stream_options.include_usage: a final chunk with no choices carries usage).
import os
from openai import OpenAI

XAI_API_KEY = os.getenv("XAI_API_KEY")
image_url = (
    os.getenv("OCULI_IMAGE_URL", "https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png")
)

client = OpenAI(
    api_key=XAI_API_KEY,
    base_url=os.getenv("OCULI_BASE_URL", "https://api.x.ai/v1"),
)

messages = [
    {
        "role": "user",
        "content": [
            {
                "type": "image_url",
                "image_url": {
                    "url": image_url,
                    "detail": "high",
                },
            },
            {
                "type": "text",
                "text": "What's in this image?",
            },
        ],
    },
]

stream = client.chat.completions.create(
    model="grok-4",
    messages=messages,
    stream=True,
    stream_options={"include_usage": True},
)

answer = ""
for chunk in stream:
    if chunk.choices:
        answer += chunk.choices[0].delta.content or ""
    if chunk.usage:
        usage = chunk.usage
print(answer)
print(usage.prompt_tokens_details.image_tokens)
