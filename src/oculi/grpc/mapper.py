"""Proto ↔ domain: one translation each way.

In: ``GetCompletionsRequest`` → ``GenerationRequest`` (conversation, sampling,
``store_messages``, ``previous_response_id``). Out: ``Completion`` /
``StoredResponse`` → ``GetChatCompletionResponse``, ``Delta`` →
``GetChatCompletionChunk``, ``ModelInfo`` → ``LanguageModel``, ``Token`` →
``Token``. Response formats and function tools: ``tools``. Thinking models:
``reasoning_effort`` (the ``ReasoningEffort`` enum), ``reasoning_content`` on
outputs and chunks, ``usage.reasoning_tokens``, and with
``use_encrypted_content`` a server-signed ``encrypted_content`` blob that a
later request's assistant message may carry back (``oculi.reasoning.sealed``).
Request features oculi does not implement (server-side tools,
log-probabilities, penalties) are refused with ``InvalidRequest`` naming the
field, never silently dropped; fields that only tune the hosted service
(``user``, ``service_tier``, ...) are accepted and have no effect.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from oculi.domain import (
    Completion,
    Conversation,
    Delta,
    Detail,
    FinishReason,
    GenerationParams,
    ImagePart,
    Message,
    Part,
    Role,
    TextPart,
    Usage,
)
from oculi.engines.base import ModelInfo, Token
from oculi.errors import ImageError, InvalidRequest
from oculi.grpc import tools
from oculi.grpc.proto import chat_pb2, image_pb2, models_pb2, sample_pb2, tokenize_pb2, usage_pb2
from oculi.reasoning.sealed import ReasoningSeal
from oculi.service.generate import GenerationRequest, check_image_role
from oculi.store.base import StoredResponse

SURFACE = "grpc"
SYSTEM_FINGERPRINT = "oculi"

ROLES = {
    chat_pb2.MessageRole.ROLE_USER: Role.USER,
    chat_pb2.MessageRole.ROLE_ASSISTANT: Role.ASSISTANT,
    chat_pb2.MessageRole.ROLE_SYSTEM: Role.SYSTEM,
    # The hosted API turns "developer" into "system" for models without the role.
    chat_pb2.MessageRole.ROLE_DEVELOPER: Role.SYSTEM,
    chat_pb2.MessageRole.ROLE_TOOL: Role.TOOL,
}

# DETAIL_INVALID (0) is what an ImageUrlContent without ``detail`` carries in
# proto3, so it means "not set", i.e. auto (the SDK's ``image()`` sends AUTO).
DETAILS = {
    image_pb2.ImageDetail.DETAIL_INVALID: Detail.AUTO,
    image_pb2.ImageDetail.DETAIL_AUTO: Detail.AUTO,
    image_pb2.ImageDetail.DETAIL_LOW: Detail.LOW,
    image_pb2.ImageDetail.DETAIL_HIGH: Detail.HIGH,
}

FINISH_REASONS = {
    FinishReason.STOP: sample_pb2.FinishReason.REASON_STOP,
    FinishReason.LENGTH: sample_pb2.FinishReason.REASON_MAX_LEN,
    FinishReason.TOOL_CALLS: sample_pb2.FinishReason.REASON_TOOL_CALLS,
    FinishReason.CANCELLED: sample_pb2.FinishReason.REASON_INVALID,
    FinishReason.ERROR: sample_pb2.FinishReason.REASON_INVALID,
}

EFFORTS = {
    chat_pb2.ReasoningEffort.EFFORT_NONE: "none",
    chat_pb2.ReasoningEffort.EFFORT_LOW: "low",
    chat_pb2.ReasoningEffort.EFFORT_MEDIUM: "medium",
    chat_pb2.ReasoningEffort.EFFORT_HIGH: "high",
    chat_pb2.ReasoningEffort.EFFORT_XHIGH: "xhigh",
}

MODALITIES = {"text": models_pb2.Modality.TEXT, "image": models_pb2.Modality.IMAGE}

# Request fields with presence whose features oculi does not implement.
UNSUPPORTED_IF_SET = {
    "search_parameters": "live search",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "top_logprobs": "log-probabilities",
}


# --- in ---------------------------------------------------------------------------------


def to_generation_request(
    request: chat_pb2.GetCompletionsRequest, *, owner: str, request_id: str, seal: ReasoningSeal | None = None
) -> GenerationRequest:
    """The wire-neutral request for a ``GetCompletionsRequest`` (see module docstring)."""
    refuse_unsupported(request)
    if not request.model:
        raise InvalidRequest("model is required: name a served model or a 'grok-*' alias.", param="model")
    return GenerationRequest(
        model=request.model,
        conversation=to_conversation(request.messages, seal),
        params=to_params(request),
        owner=owner,
        surface=SURFACE,
        store=request.store_messages,
        previous_response_id=request.previous_response_id if request.HasField("previous_response_id") else None,
        id=request_id,
        output=tools.to_output_spec(request),
    )


def refuse_unsupported(request: chat_pb2.GetCompletionsRequest) -> None:
    """``InvalidRequest`` for a request that asks for a feature oculi does not have."""
    for name, feature in UNSUPPORTED_IF_SET.items():
        if request.HasField(name):
            raise InvalidRequest(f"{feature} is not supported by oculi; leave '{name}' unset.", param=name)
    if request.logprobs:
        raise InvalidRequest("Log-probabilities are not supported by oculi; set logprobs to false.", param="logprobs")


def to_params(request: chat_pb2.GetCompletionsRequest) -> GenerationParams:
    """Sampling parameters; unset optional fields keep oculi's defaults."""
    params = GenerationParams(stop=list(request.stop))
    if request.HasField("max_tokens"):
        params.max_tokens = request.max_tokens
    if request.HasField("temperature"):
        params.temperature = request.temperature
    if request.HasField("top_p"):
        params.top_p = request.top_p
    if request.HasField("seed"):
        params.seed = request.seed
    if request.HasField("n"):
        params.n = request.n
    if request.HasField("reasoning_effort"):
        params.reasoning_effort = EFFORTS.get(request.reasoning_effort)
    return params


def to_conversation(messages: Any, seal: ReasoningSeal | None = None) -> Conversation:
    """The conversation of the request's ``messages`` (images numbered in order of appearance).

    An assistant message's reasoning is its ``encrypted_content`` (opened and
    checked by ``seal``: a 400 when altered), else its ``reasoning_content``.
    """
    conversation = Conversation()
    image_index = 0
    for i, message in enumerate(messages):
        role = ROLES.get(message.role)
        if role is None:
            name = chat_pb2.MessageRole.Name(message.role) if message.role in chat_pb2.MessageRole.values() else None
            raise InvalidRequest(
                f"messages[{i}] has role {name or message.role}, which oculi does not accept; "
                "use ROLE_USER, ROLE_ASSISTANT, ROLE_SYSTEM, ROLE_DEVELOPER or ROLE_TOOL.",
                param=f"messages[{i}].role",
            )
        reasoning = message.reasoning_content
        if message.encrypted_content:
            reasoning = (seal or ReasoningSeal()).open(message.encrypted_content, f"messages[{i}].encrypted_content")
        parts: list[Part] = []
        for j, content in enumerate(message.content):
            param = f"messages[{i}].content[{j}]"
            kind = content.WhichOneof("content")
            if kind == "text":
                parts.append(TextPart(content.text))
            elif kind == "image_url":
                check_image_role(role, param)
                parts.append(to_image_part(content.image_url, image_index, param))
                image_index += 1
            elif kind == "file":
                check_image_role(role, param)
                parts.append(file_image_part(content.file, param))
                image_index += 1
            else:
                raise InvalidRequest(f"{param} is empty: set text or image_url.", param=param)
        calls = tools.to_tool_calls(message) if role is Role.ASSISTANT else []
        tool_call_id = (message.tool_call_id or None) if role is Role.TOOL else None
        reasoning = reasoning if role is Role.ASSISTANT else ""
        conversation.messages.append(Message(role, parts, calls, tool_call_id, reasoning))
    return conversation


def to_image_part(content: image_pb2.ImageUrlContent, index: int, param: str) -> ImagePart:
    """An ``ImagePart`` for ``ImageUrlContent{image_url, detail}``."""
    detail = DETAILS.get(content.detail)
    if detail is None:
        raise ImageError(
            f"detail {content.detail} is not a valid ImageDetail; use DETAIL_AUTO, DETAIL_LOW or DETAIL_HIGH.",
            index=index,
            param=f"{param}.image_url.detail",
        )
    if content.file_id and not content.image_url:
        return ImagePart.file(content.file_id, detail)
    if not content.image_url:
        raise ImageError(
            "image_url is empty; send an http(s) URL or a data:image/...;base64 URL.",
            index=index,
            param=f"{param}.image_url",
        )
    return ImagePart(content.image_url, detail)


def file_image_part(file: chat_pb2.FileContent, param: str) -> ImagePart:
    """xai-sdk's ``file(...)`` content taken in as an image: an uploaded ``file_id``, inline ``data`` or ``url``.

    The bytes go through the same intake as any image (type by signature,
    so a non-image file is a 400 naming it).
    """
    if file.file_id:
        return ImagePart.file(file.file_id)
    if file.data:
        mime = file.mime_type if file.mime_type.startswith("image/") else "image/unknown"  # intake sniffs the bytes
        return ImagePart(f"data:{mime};base64,{base64.b64encode(file.data).decode()}")
    if file.url:
        return ImagePart(file.url)
    raise InvalidRequest(f"{param}.file is empty: set file_id (from files.upload), data or url.", param=f"{param}.file")


# --- out --------------------------------------------------------------------------------


def timestamp(seconds: int) -> Timestamp:
    """A protobuf timestamp of whole Unix seconds."""
    return Timestamp(seconds=seconds)


#: Trailing metadata of Chat completions: per image of the prompt, the detail level it was fed at and why
#: (the proto's usage has no field for it), as JSON: [{"detail": "low", "reason": "...", "image_tokens": 256}].
IMAGE_DETAILS_METADATA = "x-oculi-image-details"


def image_details_metadata(usage: Usage) -> tuple[tuple[str, str], ...]:
    """Trailing metadata with ``usage``'s per-image detail levels (empty without images)."""
    if not usage.image_details:
        return ()
    return ((IMAGE_DETAILS_METADATA, json.dumps([d.to_dict() for d in usage.image_details], separators=(",", ":"))),)


def to_usage(usage: Usage) -> usage_pb2.SamplingUsage:
    """``SamplingUsage``; ``prompt_tokens`` includes text, template and image tokens (SPEC §3)."""
    return usage_pb2.SamplingUsage(
        prompt_tokens=usage.prompt_tokens,
        prompt_text_tokens=usage.prompt_text_tokens,
        prompt_image_tokens=usage.prompt_image_tokens,
        cached_prompt_text_tokens=usage.cached_prompt_tokens,
        completion_tokens=usage.completion_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        total_tokens=usage.total_tokens,
    )


def to_response(completion: Completion, seal: ReasoningSeal | None = None) -> chat_pb2.GetChatCompletionResponse:
    """The unary answer: one output per choice, ``index`` = choice, role ASSISTANT.

    ``seal`` (``use_encrypted_content``): each choice's reasoning also as a signed blob.
    """
    return chat_pb2.GetChatCompletionResponse(
        id=completion.id,
        model=completion.model,
        created=timestamp(completion.created),
        system_fingerprint=SYSTEM_FINGERPRINT,
        outputs=[
            chat_pb2.CompletionOutput(
                index=choice.index,
                finish_reason=FINISH_REASONS[choice.finish_reason],
                message=chat_pb2.CompletionMessage(
                    content=choice.text,
                    reasoning_content=choice.reasoning,
                    encrypted_content=seal.seal(choice.reasoning, completion.model)
                    if seal is not None and choice.reasoning
                    else "",
                    role=chat_pb2.MessageRole.ROLE_ASSISTANT,
                    tool_calls=[tools.to_wire(c) for c in choice.tool_calls],
                ),
            )
            for choice in completion.choices
        ],
        usage=to_usage(completion.usage),
    )


def stored_to_response(record: StoredResponse) -> chat_pb2.GetChatCompletionResponse:
    """A stored (or deferred, finished) response rendered like a fresh one."""
    return to_response(
        Completion(record.id, record.model, record.created_at, list(record.choices), record.usage or Usage())
    )


class ChunkWriter:
    """Turns a run's ``Delta``s into stream chunks shaped as SPEC §5.

    Every chunk repeats the id and ``delta.role = ROLE_ASSISTANT``. The xai-sdk
    client overwrites each choice's finish reason and the usage with every
    chunk it sees, so a finish reason, once known, is repeated on that choice's
    later chunks, and the final chunk (the delta with usage) lists every choice
    with its finish reason, plus the full usage. With ``seal``
    (``use_encrypted_content``) the final chunk also carries each choice's
    signed reasoning as ``encrypted_content`` (the client joins the pieces).
    """

    def __init__(self, response_id: str, model: str, created: int, n: int, seal: ReasoningSeal | None = None) -> None:
        self.response_id = response_id
        self.model = model
        self.created = timestamp(created)
        self.n = n
        self.finished: dict[int, FinishReason] = {}
        self.seal = seal
        self.reasoning: dict[int, list[str]] = {}

    def chunk(self, delta: Delta) -> chat_pb2.GetChatCompletionChunk | None:
        """The chunk for ``delta``, or None when it carries nothing to send."""
        if delta.finish_reason is not None:
            self.finished[delta.index] = delta.finish_reason
        if delta.reasoning and self.seal is not None:
            self.reasoning.setdefault(delta.index, []).append(delta.reasoning)
        calls = [tools.chunk_to_wire(c) for c in delta.tool_calls]
        if delta.usage is not None:
            outputs = [
                self.output(i, delta.text, calls, delta.reasoning) if i == delta.index else self.output(i, "")
                for i in range(self.n)
            ]
            if self.seal is not None and delta.usage.completion_tokens:
                for out in outputs:
                    thought = "".join(self.reasoning.get(out.index, []))
                    out.delta.encrypted_content = self.seal.seal(thought, self.model) if thought else ""
            return self.message(outputs, to_usage(delta.usage))
        if not delta.is_output:
            return None
        return self.message([self.output(delta.index, delta.text, calls, delta.reasoning)], None)

    def output(
        self, index: int, text: str, calls: list[chat_pb2.ToolCall] | None = None, reasoning: str = ""
    ) -> chat_pb2.CompletionOutputChunk:
        """One choice's piece of a chunk (its finish reason repeated once known)."""
        finish = self.finished.get(index)
        return chat_pb2.CompletionOutputChunk(
            index=index,
            delta=chat_pb2.Delta(
                content=text,
                reasoning_content=reasoning,
                role=chat_pb2.MessageRole.ROLE_ASSISTANT,
                tool_calls=calls or [],
            ),
            finish_reason=FINISH_REASONS[finish] if finish is not None else sample_pb2.FinishReason.REASON_INVALID,
        )

    def message(
        self, outputs: list[chat_pb2.CompletionOutputChunk], usage: usage_pb2.SamplingUsage | None
    ) -> chat_pb2.GetChatCompletionChunk:
        chunk = chat_pb2.GetChatCompletionChunk(
            id=self.response_id,
            model=self.model,
            created=self.created,
            system_fingerprint=SYSTEM_FINGERPRINT,
            outputs=outputs,
        )
        if usage is not None:
            chunk.usage.CopyFrom(usage)
        return chunk


def to_language_model(info: ModelInfo, aliases: list[str]) -> models_pb2.LanguageModel:
    """``LanguageModel`` for a served model; oculi charges nothing, so prices are 0."""
    return models_pb2.LanguageModel(
        name=info.id,
        aliases=aliases,
        version=info.architecture,
        input_modalities=[MODALITIES[m] for m in info.input_modalities if m in MODALITIES],
        output_modalities=[MODALITIES[m] for m in info.output_modalities if m in MODALITIES],
        created=timestamp(info.created),
        max_prompt_length=info.context_length,
        system_fingerprint=SYSTEM_FINGERPRINT,
    )


def to_tokens(tokens: list[Token], model: str) -> tokenize_pb2.TokenizeTextResponse:
    """``TokenizeTextResponse`` of a tokenization."""
    return tokenize_pb2.TokenizeTextResponse(
        model=model,
        tokens=[tokenize_pb2.Token(token_id=t.id, string_token=t.text, token_bytes=t.text.encode()) for t in tokens],
    )
