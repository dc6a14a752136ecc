"""The llama.cpp engine's side of thinking models: the GGUF's chat template says whether the model thinks.

Like the transformers engine (``engines.hf.thinking``): the embedded template
is rendered once with a probe conversation; tag ids come from the GGUF's own
vocabulary (special tokens parsed), so the worker can count, budget and hold
a grammar back token by token.
"""

from __future__ import annotations

from typing import Any

from oculi.engines.llamacpp.prompt import ChatTemplate
from oculi.reasoning.budget import Thinking
from oculi.reasoning.formats import ReasoningFormat, detect_format


def reasoning_format(template: ChatTemplate, parser: str | None) -> ReasoningFormat | None:
    """The GGUF's reasoning format (None: it does not think, or ``parser`` is ``none``)."""

    def render(messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return template.render(messages, switch=kwargs)

    return detect_format(template.source, render, parser)


def thinking(fmt: ReasoningFormat | None, native: Any) -> Thinking | None:
    """The engine-side thinking of a model with format ``fmt`` (None when it does not think)."""
    if fmt is None:
        return None
    return Thinking(fmt, lambda text: list(native.tokenize(text, add_special=False, parse_special=True)))
