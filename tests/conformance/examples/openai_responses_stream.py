# Streaming variant of openai_responses.py.
import os
import httpx
from openai import OpenAI

client = OpenAI(
    api_key=os.getenv("XAI_API_KEY", "<YOUR_XAI_API_KEY_HERE>"),
    base_url=os.getenv("OCULI_BASE_URL", "https://api.x.ai/v1"),
    timeout=httpx.Timeout(3600.0), # Override default timeout with longer timeout for reasoning models
)
image_url = (
    os.getenv("OCULI_IMAGE_URL", "https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png")
)

stream = client.responses.create(
    model="grok-4.20-reasoning",
    input=[
        {
            "role": "user",
            "content": [
                {
                    "type": "input_image",
                    "image_url": image_url,
                    "detail": "high",
                },
                {
                    "type": "input_text",
                    "text": "What's in this image?",
                },
            ],
        },
    ],
    stream=True,
)

answer = ""
for event in stream:
    if event.type == "response.output_text.delta":
        answer += event.delta
    elif event.type in ("response.completed", "response.incomplete"):
        response = event.response
print(answer)
print(response.id)
print(response.usage.input_tokens_details.image_tokens)
