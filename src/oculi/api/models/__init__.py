"""Model listings (OpenAI and xAI shapes) and API-key info."""
