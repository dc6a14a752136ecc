"""Engines: adapters that turn a conversation + images into a token stream.

``base.py`` holds the ``Engine`` protocol; ``registry.py`` loads engines by
model spec and resolves request model names (ids and aliases).
"""
