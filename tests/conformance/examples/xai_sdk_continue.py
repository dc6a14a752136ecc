# Continues the stored conversation of xai_sdk_responses.py by its response id
# (the seed: "The response ID that can be used to continue the conversation later").
import os
from xai_sdk import Client
from xai_sdk.chat import user, image

client = Client(api_key=os.getenv("XAI_API_KEY"), api_host=os.getenv("OCULI_API_HOST", "api.x.ai"))

image_url = os.getenv("OCULI_IMAGE_URL", "https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png")
chat = client.chat.create(model="grok-4.20-reasoning", store_messages=True)
chat.append(
    user(
        "What's in this image?",
        image(image_url=image_url, detail="high"),
    )
)
response = chat.sample()
print(response.id)

follow_up = client.chat.create(model="grok-4.20-reasoning", previous_response_id=response.id, store_messages=True)
follow_up.append(user("Describe it in more detail."))
second = follow_up.sample()
print(second.content)

stored = client.chat.get_stored_completion(second.id)
print(len(stored), stored[0].content == second.content)
print(client.chat.delete_stored_completion(second.id))
print(second.usage.prompt_image_tokens)
