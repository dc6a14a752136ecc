# The rest of the xai-sdk surface SPEC §1 lists (not in the seeds): models, tokenizer, API key info.
import os
from xai_sdk import Client

client = Client(api_key=os.getenv("XAI_API_KEY"), api_host=os.getenv("OCULI_API_HOST", "api.x.ai"))

models = client.models.list_language_models()
print("models:", [m.name for m in models])
model = client.models.get_language_model("grok-4")
print("grok-4 ->", model.name, list(model.input_modalities))
tokens = client.tokenize.tokenize_text("What's in this image?", model="grok-4")
print("tokens:", len(tokens), "".join(t.string_token for t in tokens))
print("key redacted:", client.auth.get_api_key_info().redacted_api_key)
