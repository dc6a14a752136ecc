"""Chat completions' structured-output and tool fields ↔ domain (the rest is in ``mapper``).

In: ``response_format``, ``tools``, ``tool_choice``, ``parallel_tool_calls`` →
``OutputSpec``; assistant ``tool_calls`` and ``role: "tool"`` messages →
``Message.tool_calls`` / ``Message.tool_call_id``. Out: ``ToolCall`` →
``message.tool_calls[]``, ``ToolCallChunk`` → ``delta.tool_calls[]``.
"""

from __future__ import annotations

from oculi.api.chat.schemas import (
    ChatCompletionRequest,
    ChatMessage,
    ChatToolCall,
    ChunkFunctionCall,
    ChunkToolCall,
    FunctionCall,
)
from oculi.domain import Message, OutputSpec, ResponseFormat, Role, TextPart, ToolCall, ToolCallChunk
from oculi.errors import InvalidRequest
from oculi.structured import requests as structured


def to_output_spec(request: ChatCompletionRequest) -> OutputSpec:
    """What the request asks of the output's shape (400 naming the field for bad values)."""
    fmt = ResponseFormat()
    if request.response_format is not None:
        wire = request.response_format
        schema = wire.json_schema
        fmt = structured.response_format(
            wire.type,
            name=schema.name if schema else None,
            schema=schema.schema_ if schema else None,
            strict=schema.strict if schema else None,
            description=schema.description if schema else None,
            param="response_format" if wire.type != "json_schema" else "response_format.json_schema",
        )
    tools = []
    for i, tool in enumerate(request.tools or []):
        function = tool.function
        if tool.type == "function" and function is None:
            raise InvalidRequest(f"tools[{i}] needs a 'function'.", param=f"tools[{i}].function")
        tools.append(
            structured.function_tool(
                tool.type,
                function.name if function else None,
                function.description if function else None,
                function.parameters if function else None,
                function.strict if function else None,
                f"tools[{i}].function.name",
            )
        )
    choice = request.tool_choice
    if choice is None or isinstance(choice, str):
        tool_choice = structured.tool_choice(choice)
    else:
        if choice.type != "function" or choice.function is None:
            raise InvalidRequest(
                "tool_choice as an object must be {'type': 'function', 'function': {'name': ...}}.", param="tool_choice"
            )
        tool_choice = structured.tool_choice(None, choice.function.name)
    parallel = request.parallel_tool_calls is not False
    return OutputSpec(fmt, tools, tool_choice, parallel)


def tool_message(message: ChatMessage, i: int) -> Message:
    """A ``role: "tool"`` message: the result text of the call ``tool_call_id``."""
    if not message.tool_call_id:
        raise InvalidRequest(
            f"messages[{i}] has role 'tool' but no tool_call_id; name the call it answers.",
            param=f"messages[{i}].tool_call_id",
        )
    content = message.content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if part.type != "text" or part.text is None:
                raise InvalidRequest(
                    f"A tool message's content parts must be text; messages[{i}].content[{j}] is {part.type!r}.",
                    param=f"messages[{i}].content[{j}].type",
                )
            texts.append(part.text)
        content = "".join(texts)
    return Message(Role.TOOL, [TextPart(content or "")], tool_call_id=message.tool_call_id)


def to_tool_calls(message: ChatMessage) -> list[ToolCall]:
    """An assistant message's ``tool_calls`` as domain calls."""
    return [ToolCall(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []]


def wire_calls(calls: list[ToolCall]) -> list[ChatToolCall] | None:
    """``message.tool_calls`` (None when there are none, so the field is left out)."""
    return [ChatToolCall(id=c.id, function=FunctionCall(name=c.name, arguments=c.arguments)) for c in calls] or None


def chunk_calls(chunks: list[ToolCallChunk]) -> list[ChunkToolCall] | None:
    """``delta.tool_calls`` pieces."""
    out = [
        ChunkToolCall(
            index=c.position,
            id=c.id,
            type="function" if c.id is not None else None,
            function=ChunkFunctionCall(name=c.name, arguments=c.arguments),
        )
        for c in chunks
    ]
    return out or None
