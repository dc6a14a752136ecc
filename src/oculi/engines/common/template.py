"""A conversation as the ``messages`` list chat templates take, and a checkpoint's template rendered with it.

Every engine renders the model's own chat template: the transformers and vLLM
engines through the checkpoint's processor (``render_template``), the
llama.cpp engine through the GGUF's embedded template (its ``ChatTemplate``);
all of them build the messages with ``template_messages``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from oculi.domain import Conversation, FunctionTool, ImagePart, Role, TextPart, ToolCall


def template_messages(
    conversation: Conversation, *, flatten_text_turns: bool = False, image_repeats: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Each message as ``{"role", "content": [{"type": "text" | "image"}, ...]}``.

    Images become ``{"type": "image"}`` placeholders the engine expands;
    ``image_repeats[i]`` placeholders for the conversation's ``i``-th image
    (one by default), for families that take one image as several.
    ``flatten_text_turns``: a non-user message with only text gets its content
    as one string, the form GGUF-embedded templates expect for system and
    assistant turns. An assistant turn's reasoning goes to
    ``reasoning_content``. Tool calls and tool results take the shape Hugging Face
    templates read (``tool_calls[].function{name, arguments}``, ``role: "tool"``).
    """
    messages: list[dict[str, Any]] = []
    image = 0
    for message in conversation.messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                content.extend({"type": "image"} for _ in range(image_repeats[image] if image_repeats else 1))
                image += 1
        item: dict[str, Any]
        if message.role is Role.TOOL or (
            flatten_text_turns and message.role is not Role.USER and all(c["type"] == "text" for c in content)
        ):
            item = {"role": message.role.value, "content": "".join(c["text"] for c in content)}
        else:
            item = {"role": message.role.value, "content": content}
        if message.tool_calls:
            item["tool_calls"] = [template_tool_call(c) for c in message.tool_calls]
        if message.tool_call_id is not None:
            item["tool_call_id"] = message.tool_call_id
        if message.reasoning:  # the key Qwen3 / DeepSeek-R1 / GLM templates read (most drop it for past turns)
            item["reasoning_content"] = message.reasoning
        messages.append(item)
    return messages


def template_tool_call(call: ToolCall) -> dict[str, Any]:
    """A tool call as chat templates read it (arguments as an object, which they serialize themselves)."""
    try:
        arguments: Any = json.loads(call.arguments)
    except json.JSONDecodeError:
        arguments = call.arguments
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def template_tools(tools: list[FunctionTool]) -> list[dict[str, Any]] | None:
    """The ``tools`` argument of ``apply_chat_template`` (None when there are none)."""
    if not tools:
        return None
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description or "", "parameters": t.parameters},
        }
        for t in tools
    ]


def render_template(
    processor: Any,
    conversation: Conversation,
    tools: list[FunctionTool] | None = None,
    image_repeats: Sequence[int] | None = None,
    switch: dict[str, Any] | None = None,
) -> str:
    """The prompt text from the checkpoint's chat template, ending with the assistant turn's opening.

    ``processor``: the checkpoint's processor (its template, else its
    tokenizer's). ``tools`` go to the template's ``tools`` variable (templates
    without tool support ignore it; constrained decoding still makes the call
    valid). ``image_repeats[i]``: image placeholders the template writes for
    image ``i`` (a family that takes one request image as several model
    images). ``switch``: more template variables (``enable_thinking``).
    """
    messages = template_messages(conversation, image_repeats=image_repeats)
    extra: dict[str, Any] = {"tools": template_tools(tools)} if tools else {}
    extra.update(switch or {})
    if getattr(processor, "chat_template", None):
        return str(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **extra))
    return str(processor.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **extra))
