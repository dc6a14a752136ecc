"""Tool calls out of generated text, as it streams (engine-neutral).

Supported convention: Hermes / Qwen2 / Qwen2.5 / Qwen3 (and every chat template
that copied it, e.g. InternVL 2.5/3 on Qwen2 text models)::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

Text outside the blocks is the message content; each block whose JSON has a
string ``name`` and an object ``arguments`` becomes a ``ToolCall`` (a block
that does not parse stays text, so nothing the model wrote is lost). While
streaming, text that might be the start of ``<tool_call>`` is held back until
the next piece decides it; a call is released when its block closes, as one
chunk with its id, name and whole arguments.
"""

from __future__ import annotations

import json
import secrets

from oculi.domain import ToolCall, ToolCallChunk

OPEN = "<tool_call>"
CLOSE = "</tool_call>"


def new_call_id() -> str:
    """A fresh tool-call id in the hosted API's style."""
    return "call_" + secrets.token_hex(12)


def _held_prefix(text: str, marker: str) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of ``marker``."""
    for k in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:k]):
            return k
    return 0


def parse_call(block: str) -> ToolCall | None:
    """The call a block's JSON describes, or None when it is not ``{"name": str, "arguments": object}``."""
    try:
        data = json.loads(block)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string already
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(new_call_id(), data["name"], json.dumps(arguments, ensure_ascii=False))


class ToolCallParser:
    """Splits one choice's text stream into content and tool calls (see module docstring)."""

    def __init__(self) -> None:
        self.pending = ""  # text not released yet
        self.in_block = False
        self.calls: list[ToolCall] = []

    def feed(self, text: str) -> tuple[str, list[ToolCallChunk]]:
        """Add generated text; return the content and call chunks it settles."""
        self.pending += text
        content: list[str] = []
        chunks: list[ToolCallChunk] = []
        while True:
            if not self.in_block:
                start = self.pending.find(OPEN)
                if start < 0:
                    keep = _held_prefix(self.pending, OPEN)
                    content.append(self.pending[: len(self.pending) - keep])
                    self.pending = self.pending[len(self.pending) - keep :]
                    break
                content.append(self.pending[:start])
                self.pending = self.pending[start + len(OPEN) :]
                self.in_block = True
            end = self.pending.find(CLOSE)
            if end < 0:
                break
            block, self.pending = self.pending[:end], self.pending[end + len(CLOSE) :]
            self.in_block = False
            call = parse_call(block.strip())
            if call is None:
                content.append(OPEN + block + CLOSE)
            else:
                chunks.append(ToolCallChunk(len(self.calls), call.id, call.name, call.arguments))
                self.calls.append(call)
        return "".join(content), chunks

    def finish(self) -> tuple[str, list[ToolCallChunk]]:
        """The end of the text: an unclosed block is tried as a call (EOS may replace the closing tag)."""
        rest, self.pending = self.pending, ""
        if not self.in_block:
            return rest, []
        self.in_block = False
        call = parse_call(rest.strip())
        if call is None:
            return OPEN + rest, []
        self.calls.append(call)
        return "", [ToolCallChunk(len(self.calls) - 1, call.id, call.name, call.arguments)]
