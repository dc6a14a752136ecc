"""The pipeline's side of tool calls: every choice's text stream through a ``ToolCallParser``.

``CallCollector.delta`` rewrites an engine delta: text that belongs to a
``<tool_call>`` block leaves ``text`` and comes back as ``tool_calls`` chunks;
a choice that made calls and stopped on its own finishes with
``FinishReason.TOOL_CALLS`` (a length cut stays ``LENGTH``). Without tools it
passes deltas through untouched.
"""

from __future__ import annotations

import dataclasses

from oculi.domain import Delta, FinishReason, ToolCall
from oculi.structured.toolcalls import ToolCallParser


class CallCollector:
    """Tool-call parsing for one run (see module docstring)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.parsers: dict[int, ToolCallParser] = {}

    def delta(self, delta: Delta) -> Delta:
        """``delta`` with its text split into content and tool-call chunks."""
        if not self.enabled or (not delta.text and delta.finish_reason is None):
            return delta
        parser = self.parsers.setdefault(delta.index, ToolCallParser())
        text, chunks = parser.feed(delta.text)
        reason = delta.finish_reason
        if reason is not None:
            rest, more = parser.finish()
            text, chunks = text + rest, chunks + more
            if parser.calls and reason is FinishReason.STOP:
                reason = FinishReason.TOOL_CALLS
        return dataclasses.replace(delta, text=text, tool_calls=chunks, finish_reason=reason)

    def calls(self, index: int) -> list[ToolCall]:
        """The calls choice ``index`` made."""
        parser = self.parsers.get(index)
        return list(parser.calls) if parser else []

    def content(self, text: str, index: int) -> str:
        """A choice's final content: blank text around tool calls is dropped."""
        return "" if self.calls(index) and not text.strip() else text
