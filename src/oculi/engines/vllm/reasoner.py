"""oculi's reasoning parser for vLLM: where the thinking ends, by oculi's own tags.

vLLM's structured-output manager asks a reasoning parser whether the thinking
is over before it applies a grammar (the prompt first: a prompt that opened
``<think>`` is still thinking; one that closed it, thinking off, is not; then
every decode step). oculi registers this parser (``plugin.register``, in
every vLLM process) and names it in ``StructuredOutputsConfig``, so vLLM
holds the grammar back exactly as oculi's other engines do, for any tags:
the engine puts its format's tags in ``OCULI_THINK_TAGS`` (start, unit
separator, end) before vLLM starts, and vLLM's processes inherit it. The
parser does not extract anything (oculi splits the text itself).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from vllm.reasoning import ReasoningParser

#: The environment variable carrying the tags to vLLM's processes.
TAGS_ENV = "OCULI_THINK_TAGS"
NAME = "oculi"


def _last(ids: Sequence[int], tag: list[int]) -> int:
    """Index just after the last occurrence of ``tag`` in ``ids`` (-1 when absent)."""
    n = len(tag)
    for i in range(len(ids) - n, -1, -1):
        if list(ids[i : i + n]) == tag:
            return i + n
    return -1


class OculiReasoningParser(ReasoningParser):
    """Thinking ends after the last start tag's matching end tag (see module docstring)."""

    def __init__(self, tokenizer: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(tokenizer, *args, **kwargs)
        start, _, end = os.environ.get(TAGS_ENV, "<think>\x1f</think>").partition("\x1f")
        self.start_ids = list(tokenizer.encode(start, add_special_tokens=False))
        self.end_ids = list(tokenizer.encode(end, add_special_tokens=False))

    def is_reasoning_end(self, input_ids: Sequence[int]) -> bool:
        """True unless a think block is open at the end of ``input_ids``."""
        opened = _last(input_ids, self.start_ids)
        return opened < 0 or _last(input_ids, self.end_ids) > opened

    def is_reasoning_end_streaming(self, input_ids: Sequence[int], delta_ids: Any) -> bool:
        """Whether the thinking has ended by this decode step."""
        return self.is_reasoning_end(input_ids)

    def extract_content_ids(self, input_ids: list[int]) -> list[int]:
        """The ids after the last end tag (all of them when there is none)."""
        end = _last(input_ids, self.end_ids)
        return input_ids[end:] if end >= 0 else input_ids

    def extract_reasoning(self, model_output: str, request: Any) -> tuple[str | None, str | None]:
        """Not used by oculi (it splits the text itself): everything is content."""
        return None, model_output

    def extract_reasoning_streaming(self, *args: Any, **kwargs: Any) -> Any:
        """Not used by oculi (it splits the text itself)."""
        return None
