"""Responses' structured-output and function-calling fields ↔ domain (the rest is in ``mapper``).

In: ``text.format``, ``tools`` (flat function tools), ``tool_choice``,
``parallel_tool_calls`` → ``OutputSpec``; ``function_call`` /
``function_call_output`` input items → an assistant turn with tool calls / a
tool turn. Out: ``ToolCall`` → ``function_call`` output items; the request's
fields, kept in the stored record's metadata, echoed on the response object.
"""

from __future__ import annotations

from typing import Any

from oculi.api.responses.schemas import FunctionCallItem, InputItem, ResponseCreateRequest
from oculi.domain import Message, OutputSpec, ResponseFormat, Role, TextPart, ToolCall
from oculi.errors import InvalidRequest
from oculi.structured import requests as structured

CALL_ITEMS = ("function_call", "function_call_output")


def to_output_spec(request: ResponseCreateRequest) -> OutputSpec:
    """What the request asks of the output's shape (400 naming the field for bad values)."""
    fmt = ResponseFormat()
    wire = request.text.format if request.text is not None else None
    if wire is not None:
        fmt = structured.response_format(
            wire.type,
            name=wire.name,
            schema=wire.schema_,
            strict=wire.strict,
            description=wire.description,
            param="text.format",
        )
    tools = [
        structured.function_tool(t.type, t.name, t.description, t.parameters, t.strict, f"tools[{i}].name")
        for i, t in enumerate(request.tools or [])
    ]
    choice = request.tool_choice
    if choice is None or isinstance(choice, str):
        tool_choice = structured.tool_choice(choice)
    else:
        if choice.type != "function" or not choice.name:
            raise InvalidRequest(
                "tool_choice as an object must be {'type': 'function', 'name': ...}.", param="tool_choice"
            )
        tool_choice = structured.tool_choice(None, choice.name)
    return OutputSpec(fmt, tools, tool_choice, request.parallel_tool_calls is not False)


def add_call_item(messages: list[Message], item: InputItem, i: int) -> None:
    """Append a ``function_call`` (joining the assistant turn before it) or a ``function_call_output``."""
    if not item.call_id:
        raise InvalidRequest(f"input[{i}] ({item.type}) needs a call_id.", param=f"input[{i}].call_id")
    if item.type == "function_call":
        if not item.name or item.arguments is None:
            raise InvalidRequest(
                f"input[{i}] (function_call) needs a name and arguments.", param=f"input[{i}].arguments"
            )
        call = ToolCall(item.call_id, item.name, item.arguments)
        last = messages[-1] if messages else None
        if last is not None and last.role is Role.ASSISTANT:
            last.tool_calls.append(call)
        else:
            messages.append(Message(Role.ASSISTANT, [], [call]))
        return
    output = item.output
    if isinstance(output, list):
        output = "".join(p.text or "" for p in output)
    messages.append(Message(Role.TOOL, [TextPart(output or "")], tool_call_id=item.call_id))


def call_items(calls: list[ToolCall], status: str = "completed") -> list[FunctionCallItem]:
    """The ``function_call`` output items of a choice's calls (ids derived, so a stored response renders alike)."""
    return [
        FunctionCallItem(id=f"fc_{c.id}", call_id=c.id, name=c.name, arguments=c.arguments, status=status)  # type: ignore[arg-type]
        for c in calls
    ]


def to_metadata(request: ResponseCreateRequest) -> dict[str, Any]:
    """What the response object echoes of the request's format and tools (kept with a stored response)."""
    data: dict[str, Any] = {}
    if request.text is not None and request.text.format is not None:
        data["text_format"] = request.text.format.model_dump(mode="json", by_alias=True, exclude_none=True)
    if request.tools:
        data["tools"] = [t.model_dump(mode="json", exclude_none=True) for t in request.tools]
    if request.tool_choice is not None:
        choice = request.tool_choice
        data["tool_choice"] = choice if isinstance(choice, str) else choice.model_dump(mode="json", exclude_none=True)
    if request.parallel_tool_calls is not None:
        data["parallel_tool_calls"] = request.parallel_tool_calls
    return data
