# Streaming variant of xai_sdk_image_url.py (chat.stream() instead of chat.sample()).
import os
from xai_sdk import Client
from xai_sdk.chat import user, image

client = Client(api_key=os.getenv('XAI_API_KEY'), api_host=os.getenv("OCULI_API_HOST", "api.x.ai"))
image_url = os.getenv("OCULI_IMAGE_URL", "https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png")

chat = client.chat.create(model="grok-4")
chat.append(
    user(
        "What's in this image?",
        image(image_url=image_url, detail="high"),
    )
)

for response, chunk in chat.stream():
    print(chunk.content, end="", flush=True)
print()
print(response.usage.prompt_image_tokens)
