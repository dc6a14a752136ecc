# The "Multiple images input" fragment, in the program of the base64 example.
import os
import base64
from xai_sdk import Client
from xai_sdk.chat import user, image

client = Client(api_key=os.getenv('XAI_API_KEY'), api_host=os.getenv("OCULI_API_HOST", "api.x.ai"))

chat = client.chat.create(model="grok-4")

def encode_image(image_path):
    with open(image_path, "rb") as image_file:
        encoded_string = base64.b64encode(image_file.read()).decode("utf-8")
    return encoded_string

base64_image1 = encode_image(os.getenv("OCULI_IMAGE_PATH_1", "..."))
base64_image2 = encode_image(os.getenv("OCULI_IMAGE_PATH_2", "..."))

chat.append(
    user(
        "What are in these images?",
        image(image_url=f"data:image/jpeg;base64,{base64_image1}", detail="high"),
        image(image_url=f"data:image/jpeg;base64,{base64_image2}", detail="high")
    )
)

response = chat.sample()
print(response.content)
print(response.usage.prompt_image_tokens)
