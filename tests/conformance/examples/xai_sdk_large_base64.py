# Variant of xai_sdk_base64.py for an image just under the 20 MiB limit. Its base64 form is
# about 26 MiB, over the 20 MiB per-message cap xai-sdk sets on its channel by default
# (xai_sdk/client.py _DEFAULT_CHANNEL_OPTIONS), so the client's cap is raised here.
import os
import base64
from xai_sdk import Client
from xai_sdk.chat import user, image

client = Client(
    api_key=os.getenv('XAI_API_KEY'),
    api_host=os.getenv("OCULI_API_HOST", "api.x.ai"),
    channel_options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
)
image_path = os.getenv("OCULI_IMAGE_PATH", "...")

chat = client.chat.create(model="grok-4")

def encode_image(image_path):
    with open(image_path, "rb") as image_file:
        encoded_string = base64.b64encode(image_file.read()).decode("utf-8")
    return encoded_string

base64_image = encode_image(image_path)

chat.append(
    user(
        "What's in this image?",
        image(image_url=f"data:image/jpeg;base64,{base64_image}", detail="low"),
    )
)

response = chat.sample()
print(response.content)
print(response.usage.prompt_image_tokens)
