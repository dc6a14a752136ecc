# The "Multiple images input" fragment, in the program of the base64 example.
import os
from openai import OpenAI
import base64

XAI_API_KEY = os.getenv("XAI_API_KEY")

client = OpenAI(
    api_key=XAI_API_KEY,
    base_url=os.getenv("OCULI_BASE_URL", "https://api.x.ai/v1"),
)

def encode_image(image_path):
    with open(image_path, "rb") as image_file:
        encoded_string = base64.b64encode(image_file.read()).decode("utf-8")
    return encoded_string

base64_image1 = encode_image(os.getenv("OCULI_IMAGE_PATH_1", "..."))
base64_image2 = encode_image(os.getenv("OCULI_IMAGE_PATH_2", "..."))

messages = [
    {
        "role": "user",
        "content": [
            {
                "type": "image_url",
                "image_url": {
                    "url": f"data:image/jpeg;base64,{base64_image1}",
                    "detail": "high"
                }
            },
            {
                "type": "text",
                "text": "What are in these images?"
            },
            {
                "type": "image_url",
                "image_url": {
                    "url": f"data:image/jpeg;base64,{base64_image2}",
                    "detail": "high",
                }
            }
        ],
    },
]

completion = client.chat.completions.create(
    model="grok-4",
    messages=messages,
)

print(completion.choices[0].message.content)
# Non-stream response
print(completion.usage.prompt_tokens_details.image_tokens)
