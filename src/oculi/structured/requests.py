"""Response formats and tools as every wire surface spells them, checked the same way.

Chat completions nest (``response_format.json_schema.schema``,
``tools[].function``, ``tool_choice.function.name``), Responses flatten
(``text.format.schema``, ``tools[].name``, ``tool_choice.name``) and gRPC has
its own messages; each surface's mapper pulls its fields out and calls these
(wire-neutral, below all surfaces), so all refuse the same bad values with
the same messages, naming the surface's own field.
"""

from __future__ import annotations

import re
from typing import Any

from oculi.domain import FormatKind, FunctionTool, ResponseFormat, ToolChoice, ToolChoiceMode
from oculi.errors import InvalidRequest

_KINDS = {k.value: k for k in FormatKind}
_MODES = {"auto": ToolChoiceMode.AUTO, "none": ToolChoiceMode.NONE, "required": ToolChoiceMode.REQUIRED}
#: The hosted API's rule for function names.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def response_format(
    kind: str,
    *,
    name: str | None,
    schema: dict[str, Any] | None,
    strict: bool | None,
    description: str | None,
    param: str,
) -> ResponseFormat:
    """A ``ResponseFormat``; unknown kinds and a json_schema without a schema are 400s naming ``param``."""
    format_kind = _KINDS.get(kind)
    if format_kind is None:
        raise InvalidRequest(
            f"Unsupported {param}.type {kind!r}; use 'text', 'json_object' or 'json_schema'.", param=f"{param}.type"
        )
    if format_kind is FormatKind.JSON_SCHEMA and schema is None:
        raise InvalidRequest(f"{param} of type 'json_schema' needs a 'schema'.", param=f"{param}.schema")
    kept = schema if format_kind is FormatKind.JSON_SCHEMA else None
    return ResponseFormat(format_kind, name, kept, bool(strict), description)


def function_tool(
    kind: str,
    name: str | None,
    description: str | None,
    parameters: dict[str, Any] | None,
    strict: bool | None,
    param: str,
) -> FunctionTool:
    """A ``FunctionTool``; only function tools with a valid name are accepted (400 naming ``param``)."""
    if kind != "function":
        raise InvalidRequest(
            f"Unsupported tool type {kind!r} at {param}.type; oculi runs function tools only ('function').",
            param=f"{param}.type",
        )
    if name is None or not _NAME.match(name):
        raise InvalidRequest(
            f"Invalid function name {name!r} at {param}; use 1-64 letters, digits, '_' or '-'.", param=param
        )
    return FunctionTool(name, description, parameters or {"type": "object", "properties": {}}, bool(strict))


def tool_choice(mode: str | None, name: str | None = None, param: str = "tool_choice") -> ToolChoice:
    """``auto`` (default) / ``none`` / ``required`` / a named function."""
    if name is not None:
        return ToolChoice(ToolChoiceMode.FUNCTION, name)
    if mode is None:
        return ToolChoice()
    choice = _MODES.get(mode)
    if choice is None:
        raise InvalidRequest(
            f"Unsupported tool_choice {mode!r}; use 'auto', 'none', 'required' or name a function.", param=param
        )
    return ToolChoice(choice)
