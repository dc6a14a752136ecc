"""``POST /v1/chat/completions`` (OpenAI / xAI chat completions) and deferred chat completions."""
