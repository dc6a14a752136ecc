"""Chat completions wire ↔ domain: one translation each way.

In: ``ChatCompletionRequest`` → ``Conversation`` + ``GenerationParams``.
Out: ``Completion`` → ``ChatCompletionResponse``; ``Delta`` → chunk events.
"""

from __future__ import annotations

from oculi.api.chat import tools
from oculi.api.chat.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletionChunkEvent,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatContentPart,
    ChatUsage,
    ChunkChoice,
    ChunkDelta,
    CompletionTokensDetails,
    ImageURL,
    PromptTokensDetails,
)
from oculi.api.image_detail import image_details
from oculi.api.wire import finish_reason, or_default, parse_detail, parse_role
from oculi.domain import (
    Completion,
    Conversation,
    Delta,
    GenerationParams,
    ImagePart,
    Message,
    Part,
    Role,
    TextPart,
    Usage,
)
from oculi.errors import InvalidRequest
from oculi.service.generate import GenerationRequest, check_image_role

SYSTEM_FINGERPRINT = "fp_oculi"


def _part(part: ChatContentPart, role: Role, param: str) -> Part:
    if part.type == "text":
        if part.text is None:
            raise InvalidRequest(f"Missing 'text' in the text part at {param}.", param=f"{param}.text")
        return TextPart(part.text)
    if part.type == "image_url":
        check_image_role(role, param)
        image = part.image_url
        if image is None:
            raise InvalidRequest(f"Missing 'image_url' in the image part at {param}.", param=f"{param}.image_url")
        if isinstance(image, ImageURL):
            return ImagePart(image.url, parse_detail(image.detail, f"{param}.image_url.detail"))
        return ImagePart(image)
    if part.type == "file":
        check_image_role(role, param)
        return _file_part(part, param)
    raise InvalidRequest(
        f"Unsupported content part type {part.type!r} at {param}.type; use 'text', 'image_url' or 'file'.",
        param=f"{param}.type",
    )


def _file_part(part: ChatContentPart, param: str) -> ImagePart:
    """``{"type": "file", "file": {"file_id"}}`` (an uploaded image) or ``{"file_data": "data:..."}``."""
    file = part.file
    if file is not None and file.file_id:
        return ImagePart.file(file.file_id)
    if file is not None and file.file_data:
        return ImagePart(file.file_data)
    raise InvalidRequest(
        f"The file part at {param} needs file.file_id (from POST /v1/files) or file.file_data (a data URL).",
        param=f"{param}.file",
    )


def to_conversation(request: ChatCompletionRequest) -> Conversation:
    """The request's messages as the internal conversation (400 naming the field for bad values)."""
    messages = []
    for i, message in enumerate(request.messages):
        if message.role == "tool":
            messages.append(tools.tool_message(message, i))
            continue
        role = parse_role(message.role, f"messages[{i}].role")
        content = message.content
        if content is None:
            parts: list[Part] = []
        elif isinstance(content, str):
            parts = [TextPart(content)]
        else:
            parts = [_part(p, role, f"messages[{i}].content[{j}]") for j, p in enumerate(content)]
        calls = tools.to_tool_calls(message) if role is Role.ASSISTANT else []
        reasoning = (message.reasoning_content or "") if role is Role.ASSISTANT else ""
        messages.append(Message(role, parts, calls, reasoning=reasoning))
    return Conversation(messages)


def to_params(request: ChatCompletionRequest) -> GenerationParams:
    """Sampling parameters (``max_completion_tokens`` wins over the older ``max_tokens``)."""
    stop = request.stop
    return GenerationParams(
        max_tokens=request.max_completion_tokens if request.max_completion_tokens is not None else request.max_tokens,
        temperature=or_default(request.temperature, 1.0),
        top_p=or_default(request.top_p, 1.0),
        seed=request.seed,
        stop=[stop] if isinstance(stop, str) else list(stop or []),
        n=request.n if request.n is not None else 1,
        reasoning_effort=request.reasoning_effort,
    )


def to_generation_request(request: ChatCompletionRequest, owner: str) -> GenerationRequest:
    """The wire-neutral request a chat completion body makes (the endpoint and the batch runner both use it)."""
    return GenerationRequest(
        model=request.model,
        conversation=to_conversation(request),
        params=to_params(request),
        owner=owner,
        surface="chat",
        output=tools.to_output_spec(request),
        max_tokens_param="max_completion_tokens" if request.max_completion_tokens is not None else "max_tokens",
    )


def to_usage(usage: Usage) -> ChatUsage:
    """Domain usage → chat ``usage`` (image tokens per SPEC §3)."""
    return ChatUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(
            text_tokens=usage.prompt_text_tokens,
            image_tokens=usage.prompt_image_tokens,
            cached_tokens=usage.cached_prompt_tokens,
            image_details=image_details(usage),
        ),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=usage.reasoning_tokens),
    )


def to_response(completion: Completion) -> ChatCompletionResponse:
    """A finished completion as ``chat.completion``."""
    return ChatCompletionResponse(
        id=completion.id,
        created=completion.created,
        model=completion.model,
        choices=[
            ChatChoice(
                index=c.index,
                message=AssistantMessage(
                    content=c.text if c.text or not c.tool_calls else None,
                    reasoning_content=c.reasoning or None,
                    tool_calls=tools.wire_calls(c.tool_calls),
                ),
                finish_reason=finish_reason(c.finish_reason),
            )
            for c in completion.choices
        ],
        usage=to_usage(completion.usage),
        system_fingerprint=SYSTEM_FINGERPRINT,
    )


class ChunkMapper:
    """Turns a run's deltas into ``chat.completion.chunk`` events (SPEC §5).

    The first chunk of each choice carries ``delta.role``; the choice's last
    chunk carries ``finish_reason``; every chunk carries the usage known so far
    (as xAI does: the seeds read image tokens from ``next(stream)``, which the
    engine's first, prompt-usage delta makes possible); with ``include_usage``
    a final chunk has ``choices: []`` and the final usage.
    """

    def __init__(self, response_id: str, model: str, created: int, n: int, *, include_usage: bool) -> None:
        self.response_id = response_id
        self.model = model
        self.created = created
        self.n = n
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self.opened = False

    def _chunk(self, choices: list[ChunkChoice]) -> ChatCompletionChunkEvent:
        return ChatCompletionChunkEvent(
            id=self.response_id,
            created=self.created,
            model=self.model,
            choices=choices,
            usage=to_usage(self.usage) if self.usage is not None else None,
            system_fingerprint=SYSTEM_FINGERPRINT,
        )

    def _opening(self) -> list[ChatCompletionChunkEvent]:
        """The role-announcing first chunk of each choice, once."""
        if self.opened:
            return []
        self.opened = True
        return [
            self._chunk([ChunkChoice(index=i, delta=ChunkDelta(role="assistant", content=""))]) for i in range(self.n)
        ]

    def delta(self, delta: Delta) -> list[ChatCompletionChunkEvent]:
        """The chunks for one engine delta (the opening ones first; none for a bare usage update)."""
        if delta.usage is not None:
            self.usage = delta.usage
        chunks = self._opening()
        if delta.is_output:
            reason = finish_reason(delta.finish_reason) if delta.finish_reason is not None else None
            content = delta.text if delta.text else None
            wire = ChunkDelta(
                content=content,
                reasoning_content=delta.reasoning or None,
                tool_calls=tools.chunk_calls(delta.tool_calls),
            )
            chunks.append(self._chunk([ChunkChoice(index=delta.index, delta=wire, finish_reason=reason)]))
        return chunks

    def closing(self) -> list[ChatCompletionChunkEvent]:
        """With ``include_usage``: the ``choices: []`` chunk with the final usage."""
        chunks = self._opening()
        if self.include_usage:
            chunks.append(self._chunk([]))
        return chunks
