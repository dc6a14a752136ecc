"""Wire schemas of chat completions (OpenAI / xAI ``/v1/chat/completions``).

Requests are lenient where clients differ: unknown fields are ignored, a
content part's ``type`` and ``detail`` are plain strings here so the mapper can
refuse an unknown value with a 400 naming the field (a schema violation —
wrong JSON type, missing field — is a 422). Responses carry every field the
official clients and the AI SDK's schemas read (SPEC §6).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ImageURL(_Wire):
    """``image_url`` of a content part: a data URL or an http(s) URL, and the detail level."""

    url: str
    detail: str | None = None


class ChatContentPart(_Wire):
    """One content part: ``{"type": "text", "text"}`` or ``{"type": "image_url", "image_url"}``."""

    type: str
    text: str | None = None
    image_url: ImageURL | str | None = None


class ChatMessage(_Wire):
    """One message; ``content`` is a string or a list of parts (images only in user messages)."""

    role: str
    content: str | list[ChatContentPart] | None = None
    name: str | None = None


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


# --- responses --------------------------------------------------------------------


class PromptTokensDetails(BaseModel):
    """Where the prompt tokens went (SPEC §3: ``image_tokens`` are the image tokens fed to the model)."""

    text_tokens: int
    image_tokens: int
    cached_tokens: int
    audio_tokens: int = 0


class CompletionTokensDetails(BaseModel):
    """Output token breakdown (no reasoning or audio tokens here)."""

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
    content: str
    refusal: str | None = None


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


class ChunkDelta(BaseModel):
    """``choices[].delta`` of a chunk; ``role`` only on a choice's first chunk."""

    role: Literal["assistant"] | None = None
    content: str | None = None


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
