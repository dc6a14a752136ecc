import os
import base64
from xai_sdk import Client
from xai_sdk.chat import user, image

client = Client(api_key=os.getenv('XAI_API_KEY'), api_host=os.getenv("OCULI_API_HOST", "api.x.ai"))
image_path = os.getenv("OCULI_IMAGE_PATH", "...")

chat = client.chat.create(model="grok-4")

def encode_image(image_path):
    with open(image_path, "rb") as image_file:
        encoded_string = base64.b64encode(image_file.read()).decode("utf-8")
    return encoded_string

# Getting the base64 string
base64_image = encode_image(image_path)

# assumes jpeg image, update image format in the url accordingly
chat.append(
    user(
        "What's in this image?",
        image(image_url=f"data:image/jpeg;base64,{base64_image}", detail="high"),
    )
)

response = chat.sample()
print(response.content)
