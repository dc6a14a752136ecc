"""The gRPC request's structured-output and tool fields ↔ domain (the rest is in ``mapper``).

In: ``response_format`` (what ``chat.parse(Model)`` sends: ``FORMAT_TYPE_JSON_SCHEMA``
with the schema as JSON text), ``tools`` (``Tool.function``: name, description,
parameters as JSON text), ``tool_choice`` (``mode`` or ``function_name``, what
``required_tool(name)`` sends), ``parallel_tool_calls``; assistant
``tool_calls`` and ``ROLE_TOOL`` messages (``tool_result(...)``). Out:
``ToolCall`` → ``chat_pb2.ToolCall`` (client-side function call, completed).
Server-side tools (web search, code execution, MCP, ...) are refused naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from oculi.domain import OutputSpec, ResponseFormat, ToolCall, ToolCallChunk, ToolChoice
from oculi.errors import InvalidRequest
from oculi.grpc.proto import chat_pb2
from oculi.structured import requests as structured

FORMATS = {
    chat_pb2.FormatType.FORMAT_TYPE_INVALID: "text",
    chat_pb2.FormatType.FORMAT_TYPE_TEXT: "text",
    chat_pb2.FormatType.FORMAT_TYPE_JSON_OBJECT: "json_object",
    chat_pb2.FormatType.FORMAT_TYPE_JSON_SCHEMA: "json_schema",
}
MODES = {
    chat_pb2.ToolMode.TOOL_MODE_INVALID: None,
    chat_pb2.ToolMode.TOOL_MODE_AUTO: "auto",
    chat_pb2.ToolMode.TOOL_MODE_NONE: "none",
    chat_pb2.ToolMode.TOOL_MODE_REQUIRED: "required",
}


def _json_object(text: str, param: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{param} is not valid JSON ({exc.msg} at position {exc.pos}).", param=param) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{param} must be a JSON object (a JSON schema).", param=param)
    return value


def to_output_spec(request: chat_pb2.GetCompletionsRequest) -> OutputSpec:
    """What the request asks of the output's shape (``InvalidRequest`` naming the field for bad values)."""
    fmt = ResponseFormat()
    if request.HasField("response_format"):
        wire = request.response_format
        kind = FORMATS.get(wire.format_type)
        if kind is None:
            raise InvalidRequest(f"Unknown response_format.format_type {wire.format_type}.", param="response_format")
        schema = _json_object(wire.schema, "response_format.schema") if wire.HasField("schema") else None
        fmt = structured.response_format(
            kind, name=None, schema=schema, strict=True, description=None, param="response_format"
        )
    tools = []
    for i, tool in enumerate(request.tools):
        kind = tool.WhichOneof("tool")
        if kind != "function":
            raise InvalidRequest(
                f"tools[{i}] is a server-side {kind or 'empty'} tool, which oculi does not run; "
                "send client-side function tools (xai_sdk.chat.tool(...)).",
                param=f"tools[{i}]",
            )
        function = tool.function
        parameters = (
            _json_object(function.parameters, f"tools[{i}].function.parameters") if function.parameters else None
        )
        tools.append(
            structured.function_tool(
                "function",
                function.name,
                function.description or None,
                parameters,
                function.strict,
                f"tools[{i}].function.name",
            )
        )
    choice = ToolChoice()
    if request.HasField("tool_choice"):
        wire_choice = request.tool_choice
        if wire_choice.WhichOneof("tool_choice") == "function_name":
            choice = structured.tool_choice(None, wire_choice.function_name)
        else:
            choice = structured.tool_choice(MODES.get(wire_choice.mode))
    parallel = not request.HasField("parallel_tool_calls") or request.parallel_tool_calls
    return OutputSpec(fmt, tools, choice, parallel)


def to_tool_calls(message: chat_pb2.Message) -> list[ToolCall]:
    """An assistant message's function calls (what ``chat.append(response)`` sends back)."""
    return [ToolCall(c.id, c.function.name, c.function.arguments) for c in message.tool_calls if c.function.name]


def to_wire(call: ToolCall) -> chat_pb2.ToolCall:
    """A client-side function call the caller must run."""
    return chat_pb2.ToolCall(
        id=call.id,
        type=chat_pb2.ToolCallType.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL,
        status=chat_pb2.ToolCallStatus.TOOL_CALL_STATUS_COMPLETED,
        function=chat_pb2.FunctionCall(name=call.name, arguments=call.arguments),
    )


def chunk_to_wire(chunk: ToolCallChunk) -> chat_pb2.ToolCall:
    """A streamed call (oculi releases each call whole, so a chunk is a complete call)."""
    return to_wire(ToolCall(chunk.id or "", chunk.name or "", chunk.arguments))
