# The rest of the openai-python surface oculi serves (not in the seeds): models, raw JSON endpoints.
import os
from openai import OpenAI

client = OpenAI(api_key=os.getenv("XAI_API_KEY"), base_url=os.getenv("OCULI_BASE_URL", "https://api.x.ai/v1"))

models = client.models.list()
print("models:", [m.id for m in models.data])
print("grok-4 ->", client.models.retrieve("grok-4").id)
tokens = client.post("/tokenize-text", body={"text": "What's in this image?", "model": "grok-4"}, cast_to=object)
print("tokens:", len(tokens["token_ids"]))
