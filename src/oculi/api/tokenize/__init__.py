"""Text tokenization and image-token counting without running a model."""
