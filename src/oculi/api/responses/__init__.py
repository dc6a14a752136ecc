"""``/v1/responses``: the Responses API with stored conversations."""
