"""Wire schemas of chat completions (OpenAI / xAI ``/v1/chat/completions``).

Requests are lenient where clients differ: unknown fields are ignored, a
content part's ``type`` and ``detail`` are plain strings here so the mapper can
refuse an unknown value with a 400 naming the field (a schema violation —
wrong JSON type, missing field — is a 422). Responses carry every field the
official clients and the AI SDK's schemas read (SPEC §6).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_serializer,
)

from oculi.api.image_detail import ImageDetail


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ImageURL(_Wire):
    """``image_url`` of a content part: a data URL or an http(s) URL, and the detail level."""

    url: str
    detail: str | None = None


class ChatFile(_Wire):
    """``file`` of a ``{"type": "file"}`` part: an uploaded ``file_id``, or inline ``file_data`` (a data URL)."""

    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None


class ChatContentPart(_Wire):
    """One content part: ``text{text}``, ``image_url{image_url}`` or ``file{file}`` (an image file)."""

    type: str
    text: str | None = None
    image_url: ImageURL | str | None = None
    file: ChatFile | None = None


class FunctionCall(_Wire):
    """``function`` of a tool call: the name and the arguments as JSON text."""

    name: str
    arguments: str


class ChatToolCall(_Wire):
    """``tool_calls[]`` of an assistant message (requests and responses)."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Wire):
    """One message; ``content`` is a string or a list of parts (images only in user messages).

    Assistant messages may carry ``tool_calls``; ``role: "tool"`` messages
    answer the call ``tool_call_id``.
    """

    role: str
    content: str | list[ChatContentPart] | None = None
    name: str | None = None
    tool_calls: list[ChatToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None  # an assistant turn's thinking, as this API returned it


class JSONSchemaFormat(_Wire):
    """``response_format.json_schema``: the schema the answer must follow."""

    name: str
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: StrictBool | None = None
    description: str | None = None


class ResponseFormatParam(_Wire):
    """``response_format``: ``{"type": "text" | "json_object" | "json_schema", "json_schema"?}``."""

    type: str
    json_schema: JSONSchemaFormat | None = None


class FunctionDefinition(_Wire):
    """``tools[].function``: name, description and the JSON schema of the arguments."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class ChatTool(_Wire):
    """``tools[]``: ``{"type": "function", "function": {...}}``."""

    type: str
    function: FunctionDefinition | None = None


class NamedToolChoiceFunction(_Wire):
    """``tool_choice.function``."""

    name: str


class NamedToolChoice(_Wire):
    """``tool_choice`` naming one function: ``{"type": "function", "function": {"name"}}``."""

    type: str
    function: NamedToolChoiceFunction | None = None


class StreamOptions(_Wire):
    """``stream_options``: ``include_usage`` adds a final ``choices: []`` chunk with usage."""

    include_usage: StrictBool = False


class ChatCompletionRequest(_Wire):
    """``POST /v1/chat/completions`` body."""

    model: str
    messages: list[ChatMessage]
    max_tokens: StrictInt | None = None
    max_completion_tokens: StrictInt | None = None
    temperature: StrictFloat | None = None
    top_p: StrictFloat | None = None
    seed: StrictInt | None = None
    stop: str | list[str] | None = None
    n: StrictInt | None = None
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    deferred: StrictBool | None = Field(
        False, description="xAI: start now, poll GET /v1/chat/deferred-completion/{id}."
    )
    response_format: ResponseFormatParam | None = None
    tools: list[ChatTool] | None = None
    tool_choice: str | NamedToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    reasoning_effort: str | None = Field(
        None, description="Thinking models: none (thinking off), minimal, low, medium, high, xhigh (a token budget)."
    )


# --- responses --------------------------------------------------------------------


class PromptTokensDetails(BaseModel):
    """Where the prompt tokens went (SPEC §3: ``image_tokens`` are the image tokens fed to the model)."""

    text_tokens: int
    image_tokens: int
    cached_tokens: int
    audio_tokens: int = 0
    #: Per image of the prompt: the detail level it was fed at and why (oculi; left out without images).
    image_details: list[ImageDetail] | None = Field(default=None, exclude_if=lambda v: v is None)


class CompletionTokensDetails(BaseModel):
    """Output token breakdown: ``reasoning_tokens`` are a thinking model's reasoning (part of ``completion_tokens``)."""

    reasoning_tokens: int = 0
    audio_tokens: int = 0
    accepted_prediction_tokens: int = 0
    rejected_prediction_tokens: int = 0


class ChatUsage(BaseModel):
    """``usage`` of a chat completion."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails = Field(default_factory=CompletionTokensDetails)


class AssistantMessage(BaseModel):
    """``choices[].message``."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    reasoning_content: str | None = None
    refusal: str | None = None
    tool_calls: list[ChatToolCall] | None = None

    @model_serializer(mode="wrap")
    def _drop_absent_tool_calls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The hosted API leaves ``tool_calls`` out of a message that made none, and
        # ``reasoning_content`` out of a model that does not think.
        data: dict[str, Any] = handler(self)
        for key in ("tool_calls", "reasoning_content"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class ChatChoice(BaseModel):
    """One choice of a chat completion."""

    index: int
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


class ChatCompletionResponse(BaseModel):
    """``object: "chat.completion"``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage
    system_fingerprint: str


class ChunkFunctionCall(BaseModel):
    """``delta.tool_calls[].function``: the name (first piece only) and more argument text."""

    name: str | None = None
    arguments: str | None = None


class ChunkToolCall(BaseModel):
    """``delta.tool_calls[]``: ``index`` within the choice's calls; ``id`` and ``type`` on its first piece."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: ChunkFunctionCall


class ChunkDelta(BaseModel):
    """``choices[].delta`` of a chunk; ``role`` only on a choice's first chunk."""

    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ChunkToolCall] | None = None


class ChunkChoice(BaseModel):
    """One choice of a chunk; ``finish_reason`` only on the choice's last chunk."""

    index: int
    delta: ChunkDelta
    finish_reason: str | None = None


class ChatCompletionChunkEvent(BaseModel):
    """``object: "chat.completion.chunk"``; the usage chunk has ``choices: []``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: ChatUsage | None = None
    system_fingerprint: str


class DeferredResponse(BaseModel):
    """Answer to ``deferred: true``: the id to poll."""

    request_id: str


class DeferredPendingResponse(BaseModel):
    """Body of a 202 from the deferred-completion poll."""

    request_id: str
    status: Literal["pending"] = "pending"
