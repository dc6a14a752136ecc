"""``/v1/batches``: batches from a JSONL input file, as the openai client's ``batches`` resource uses them."""
