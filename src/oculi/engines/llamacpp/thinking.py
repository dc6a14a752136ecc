"""The llama.cpp engine's side of thinking models: the GGUF's chat template says whether the model thinks.

Like the transformers and vLLM engines (``engines.common.thinking``): the embedded template
is rendered once with a probe conversation; tag ids come from the GGUF's own
vocabulary (special tokens parsed), so the worker can count, budget and hold
a grammar back token by token.
"""

from __future__ import annotations

from typing import Any

from oculi.engines.llamacpp.prompt import ChatTemplate
from oculi.reasoning.formats import ReasoningFormat, detect_format
from oculi.reasoning.model import ThinkingModel


def reasoning_format(template: ChatTemplate, parser: str | None) -> ReasoningFormat | None:
    """The GGUF's reasoning format (None: it does not think, or ``parser`` is ``none``)."""

    def render(messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return template.render(messages, switch=kwargs)

    return detect_format(template.source, render, parser)


def thinking_model(fmt: ReasoningFormat | None, native: Any) -> ThinkingModel | None:
    """The engine-side thinking of a model with format ``fmt`` (None when it does not think)."""
    if fmt is None:
        return None
    return ThinkingModel(fmt, lambda text: list(native.tokenize(text, add_special=False, parse_special=True)))
