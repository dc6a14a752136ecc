"""Structured outputs and function calling, wire-neutral.

What a request may ask of the output's shape (``OutputSpec``: a
``ResponseFormat``, ``FunctionTool``s and a ``ToolChoice``) and what a model's
answer may contain besides text (``ToolCall``s, streamed as
``ToolCallChunk``s). Every surface maps its own fields onto these; the
``oculi.structured`` package turns an ``OutputSpec`` into a grammar for the
engines and parses tool calls out of the generated text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FormatKind(StrEnum):
    """``response_format.type`` / ``text.format.type``."""

    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


@dataclass(frozen=True)
class ResponseFormat:
    """The answer's format: free text, any JSON object, or JSON valid under ``schema``."""

    kind: FormatKind = FormatKind.TEXT
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool = False
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "name": self.name,
            "schema": self.schema,
            "strict": self.strict,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResponseFormat:
        kind = FormatKind(data["kind"])
        return cls(kind, data.get("name"), data.get("schema"), bool(data.get("strict")), data.get("description"))


@dataclass(frozen=True)
class FunctionTool:
    """A function the model may call; ``parameters`` is the JSON schema of its arguments object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": self.strict,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FunctionTool:
        return cls(data["name"], data.get("description"), data["parameters"], bool(data.get("strict")))


class ToolChoiceMode(StrEnum):
    """``auto``: the model decides; ``none``: no call; ``required``: at least one call; ``function``: that one."""

    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"
    FUNCTION = "function"


@dataclass(frozen=True)
class ToolChoice:
    """``tool_choice``; ``name`` is set for ``ToolChoiceMode.FUNCTION``."""

    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    name: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """A call the model made: its id, the function's name and the arguments as JSON text."""

    id: str
    name: str
    arguments: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        return cls(data["id"], data["name"], data["arguments"])


@dataclass(frozen=True)
class ToolCallChunk:
    """A streamed piece of tool call ``position`` of a choice: its id and name first, then argument text."""

    position: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass
class OutputSpec:
    """Everything a request asks of the output's shape (the default asks nothing)."""

    response_format: ResponseFormat = field(default_factory=ResponseFormat)
    tools: list[FunctionTool] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool = True

    @property
    def is_plain(self) -> bool:
        """Nothing asked: free text, no tools, no tool call demanded."""
        demanded = self.tool_choice.mode in (ToolChoiceMode.REQUIRED, ToolChoiceMode.FUNCTION)
        return self.response_format.kind is FormatKind.TEXT and not self.tools and not demanded

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (kept with stored and deferred requests, so they can be run again)."""
        return {
            "response_format": self.response_format.to_dict(),
            "tools": [t.to_dict() for t in self.tools],
            "tool_choice": {"mode": self.tool_choice.mode.value, "name": self.tool_choice.name},
            "parallel_tool_calls": self.parallel_tool_calls,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputSpec:
        choice = data["tool_choice"]
        return cls(
            ResponseFormat.from_dict(data["response_format"]),
            [FunctionTool.from_dict(t) for t in data["tools"]],
            ToolChoice(ToolChoiceMode(choice["mode"]), choice.get("name")),
            bool(data["parallel_tool_calls"]),
        )

    @property
    def calls_tools(self) -> bool:
        """Whether the model may answer with tool calls."""
        return bool(self.tools) and self.tool_choice.mode is not ToolChoiceMode.NONE
