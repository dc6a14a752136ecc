# Continues the conversation of openai_responses.py with previous_response_id,
# then reads the stored response back and deletes it.
import os
import httpx
from openai import OpenAI

client = OpenAI(
    api_key=os.getenv("XAI_API_KEY", "<YOUR_XAI_API_KEY_HERE>"),
    base_url=os.getenv("OCULI_BASE_URL", "https://api.x.ai/v1"),
    timeout=httpx.Timeout(3600.0),
)
image_url = (
    os.getenv("OCULI_IMAGE_URL", "https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png")
)

response = client.responses.create(
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
)

second = client.responses.create(
    model="grok-4.20-reasoning",
    previous_response_id=response.id,
    input="Describe it in more detail.",
)
print(second.output_text)
print(second.previous_response_id == response.id)
print(client.responses.retrieve(second.id).id == second.id)
print(client.responses.delete(second.id))
print(second.usage.input_tokens_details.image_tokens)
