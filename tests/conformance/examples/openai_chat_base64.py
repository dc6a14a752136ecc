import os
from openai import OpenAI
import base64

XAI_API_KEY = os.getenv("XAI_API_KEY")
image_path = os.getenv("OCULI_IMAGE_PATH", "...")

client = OpenAI(
    api_key=XAI_API_KEY,
    base_url=os.getenv("OCULI_BASE_URL", "https://api.x.ai/v1"),
)

def encode_image(image_path):
    with open(image_path, "rb") as image_file:
        encoded_string = base64.b64encode(image_file.read()).decode("utf-8")
    return encoded_string

# Getting the base64 string
base64_image = encode_image(image_path)

messages = [
    {
        "role": "user",
        "content": [
            {
                "type": "image_url",
                "image_url": {
                    "url": f"data:image/jpeg;base64,{base64_image}",
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
