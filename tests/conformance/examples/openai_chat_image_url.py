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

completion = client.chat.completions.create(
    model="grok-4",
    messages=messages,
)

print(completion.choices[0].message.content)
