"""A conversation as the ``messages`` list chat templates take (shared by the transformers and llama.cpp engines)."""

from __future__ import annotations

from typing import Any

from oculi.domain import Conversation, ImagePart, Role, TextPart


def template_messages(conversation: Conversation, *, flatten_text_turns: bool = False) -> list[dict[str, Any]]:
    """Each message as ``{"role", "content": [{"type": "text" | "image"}, ...]}``.

    Images become ``{"type": "image"}`` placeholders the engine expands.
    ``flatten_text_turns``: a non-user message with only text gets its content
    as one string, the form GGUF-embedded templates expect for system and
    assistant turns.
    """
    messages: list[dict[str, Any]] = []
    for message in conversation.messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                content.append({"type": "image"})
        if flatten_text_turns and message.role is not Role.USER and all(c["type"] == "text" for c in content):
            messages.append({"role": message.role.value, "content": "".join(c["text"] for c in content)})
        else:
            messages.append({"role": message.role.value, "content": content})
    return messages
