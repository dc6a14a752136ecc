"""Thinking models served from a transformers checkpoint (the transformers and vLLM engines).

The checkpoint's chat template (processor's, else tokenizer's) is rendered
once at load to see whether it opens a think block (``oculi.reasoning.formats``);
a ``ThinkingModel`` with the checkpoint's tokenizer then gives each request its
template switch and one ``ThinkTracker`` per choice.
"""

from __future__ import annotations

from typing import Any

from oculi.reasoning.formats import ReasoningFormat, detect_format
from oculi.reasoning.model import ThinkingModel


def reasoning_format(processor: Any, parser: str | None) -> ReasoningFormat | None:
    """The checkpoint's reasoning format (None: it does not think, or ``parser`` is ``none``)."""
    owner = processor if getattr(processor, "chat_template", None) else getattr(processor, "tokenizer", processor)
    template = getattr(owner, "chat_template", None) or ""
    if not isinstance(template, str):  # a dict of named templates: the default one
        template = str(template.get("default", ""))

    def render(messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return str(owner.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **kwargs))

    return detect_format(template, render, parser)


def thinking_model(fmt: ReasoningFormat | None, tokenizer: Any) -> ThinkingModel | None:
    """The engine-side thinking of a model with format ``fmt`` and this tokenizer (None when it does not think)."""
    if fmt is None:
        return None
    return ThinkingModel(fmt, lambda text: list(tokenizer(text, add_special_tokens=False)["input_ids"]))
