"""Responses wire ↔ domain: one translation each way.

In: ``ResponseCreateRequest`` → ``Conversation`` + ``GenerationParams`` (+ the
extras a stored response must echo: instructions, metadata).
Out: a ``ResponseFacts`` (from a live run or a stored record) → ``ResponseObject``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oculi.api.image_detail import image_details
from oculi.api.responses import tools
from oculi.api.responses.reasoning import attach, input_reasoning, reasoning_item
from oculi.api.responses.schemas import (
    FunctionCallItem,
    IncompleteDetails,
    InputContentPart,
    InputImageURL,
    InputItem,
    InputTokensDetails,
    OutputMessage,
    OutputText,
    OutputTokensDetails,
    PromptTokensDetails,
    ReasoningItem,
    ResponseCreateRequest,
    ResponseErrorBody,
    ResponseObject,
    ResponseUsage,
    TextConfig,
)
from oculi.api.wire import or_default, parse_detail, parse_role
from oculi.domain import (
    Choice,
    Conversation,
    FinishReason,
    GenerationParams,
    ImagePart,
    Message,
    Part,
    Role,
    TextPart,
    Usage,
)
from oculi.errors import InvalidRequest
from oculi.reasoning.sealed import ReasoningSeal
from oculi.service.generate import GenerationRequest, check_image_role
from oculi.store.base import StoredResponse

_TEXT_TYPES = {"input_text", "output_text", "text"}


def _part(part: InputContentPart, role: Role, param: str) -> Part:
    if part.type in _TEXT_TYPES:
        if part.text is None:
            raise InvalidRequest(f"Missing 'text' in the {part.type} part at {param}.", param=f"{param}.text")
        return TextPart(part.text)
    if part.type == "input_image":
        check_image_role(role, param)
        image = part.image_url
        if image is None and part.file_id:
            return ImagePart.file(part.file_id, parse_detail(part.detail, f"{param}.detail"))
        if image is None:
            raise InvalidRequest(
                f"Missing 'image_url' (or 'file_id' of an uploaded image) in the input_image part at {param}.",
                param=f"{param}.image_url",
            )
        if isinstance(image, InputImageURL):
            return ImagePart(image.url, parse_detail(image.detail or part.detail, f"{param}.detail"))
        return ImagePart(image, parse_detail(part.detail, f"{param}.detail"))
    if part.type == "input_file":
        check_image_role(role, param)
        return _input_file(part, param)
    raise InvalidRequest(
        f"Unsupported content part type {part.type!r} at {param}.type; use 'input_text', 'input_image' or "
        "'input_file' (an image file).",
        param=f"{param}.type",
    )


def _input_file(part: InputContentPart, param: str) -> ImagePart:
    """``input_file`` with ``file_id`` (uploaded), ``file_url`` or ``file_data``: taken in as an image."""
    if part.file_id:
        return ImagePart.file(part.file_id)
    source = part.file_url or part.file_data
    if source:
        return ImagePart(source)
    raise InvalidRequest(
        f"The input_file part at {param} needs file_id (from POST /v1/files), file_url or file_data.",
        param=f"{param}.file_id",
    )


def _message(item: InputItem, i: int) -> Message:
    if item.type not in (None, "message"):
        raise InvalidRequest(
            f"Unsupported input item type {item.type!r} at input[{i}].type; only messages are supported.",
            param=f"input[{i}].type",
        )
    if item.role is None:
        raise InvalidRequest(f"Missing 'role' in the message at input[{i}].", param=f"input[{i}].role")
    role = parse_role(item.role, f"input[{i}].role")
    content = item.content
    if content is None:
        return Message(role, [])
    if isinstance(content, str):
        return Message(role, [TextPart(content)])
    return Message(role, [_part(p, role, f"input[{i}].content[{j}]") for j, p in enumerate(content)])


def to_conversation(request: ResponseCreateRequest, seal: ReasoningSeal | None = None) -> Conversation:
    """``instructions`` (as a system message) followed by ``input``.

    A ``reasoning`` item goes to the assistant turn that follows it (``seal``
    opens its ``encrypted_content``).
    """
    messages = [Message(Role.SYSTEM, [TextPart(request.instructions)])] if request.instructions else []
    if isinstance(request.input, str):
        messages.append(Message(Role.USER, [TextPart(request.input)]))
    else:
        reasoning = ""
        for i, item in enumerate(request.input):
            if item.type == "reasoning":
                reasoning = input_reasoning(item, i, seal)
                continue
            if item.type in tools.CALL_ITEMS:
                tools.add_call_item(messages, item, i)
            else:
                messages.append(_message(item, i))
            reasoning = attach(messages, reasoning)
    return Conversation(messages)


def to_params(request: ResponseCreateRequest) -> GenerationParams:
    """Sampling parameters of a Responses request."""
    return GenerationParams(
        max_tokens=request.max_output_tokens,
        temperature=or_default(request.temperature, 1.0),
        top_p=or_default(request.top_p, 1.0),
        seed=request.seed,
        reasoning_effort=request.reasoning.effort if request.reasoning is not None else None,
    )


def to_metadata(request: ResponseCreateRequest) -> dict[str, Any]:
    """What a stored response must echo that the conversation does not hold."""
    return {
        "instructions": request.instructions,
        "response_metadata": dict(request.metadata or {}),
        **tools.to_metadata(request),
    }


@dataclass
class ResponseFacts:
    """Everything a response object shows, from a live run or from the store."""

    id: str
    model: str
    created_at: int
    params: GenerationParams
    store: bool
    previous_response_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    choice: Choice | None = None  # None while in progress
    usage: Usage | None = None
    error: dict[str, Any] | None = None
    completed_at: int | None = None
    encrypted_reasoning: str | None = None  # the signed blob, when the request included it

    @classmethod
    def from_stored(cls, record: StoredResponse) -> ResponseFacts:
        """The facts of a stored response (GET /v1/responses/{id})."""
        return cls(
            id=record.id,
            model=record.model,
            created_at=record.created_at,
            params=record.params,
            store=True,
            previous_response_id=record.previous_response_id,
            metadata=record.metadata,
            choice=record.choices[0] if record.choices else None,
            usage=record.usage,
            error=record.error,
            completed_at=record.created_at if record.choices else None,
        )


def to_generation_request(
    request: ResponseCreateRequest, owner: str, seal: ReasoningSeal | None = None
) -> GenerationRequest:
    """The wire-neutral request a Responses body makes (the endpoint and the batch runner both use it)."""
    return GenerationRequest(
        model=request.model,
        conversation=to_conversation(request, seal),
        params=to_params(request),
        owner=owner,
        surface="responses",
        store=request.store is not False,
        previous_response_id=request.previous_response_id,
        metadata=to_metadata(request),
        output=tools.to_output_spec(request),
        max_tokens_param="max_output_tokens",
        text_param="input",
        effort_param="reasoning.effort",
    )


def message_id(response_id: str) -> str:
    """The output message's id (derived, so a stored response renders the same id again)."""
    return f"msg_{response_id}"


def to_usage(usage: Usage) -> ResponseUsage:
    """Domain usage → Responses ``usage`` (image tokens in both detail objects, SPEC §3)."""
    return ResponseUsage(
        input_tokens=usage.prompt_tokens,
        input_tokens_details=InputTokensDetails(
            cached_tokens=usage.cached_prompt_tokens,
            text_tokens=usage.prompt_text_tokens,
            image_tokens=usage.prompt_image_tokens,
            image_details=image_details(usage),
        ),
        output_tokens=usage.completion_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=usage.reasoning_tokens),
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(
            text_tokens=usage.prompt_text_tokens,
            image_tokens=usage.prompt_image_tokens,
            cached_tokens=usage.cached_prompt_tokens,
            image_details=image_details(usage),
        ),
    )


def output_message(response_id: str, text: str, status: str) -> OutputMessage:
    """The assistant message item."""
    return OutputMessage(id=message_id(response_id), status=status, content=[OutputText(text=text)])  # type: ignore[arg-type]


def to_response(facts: ResponseFacts) -> ResponseObject:
    """The response object for ``facts`` (status from the finish reason or the error)."""
    choice = facts.choice
    status = "in_progress"
    incomplete = None
    output: list[ReasoningItem | OutputMessage | FunctionCallItem] = []
    if facts.error is not None:
        status = "failed"
    elif choice is not None:
        status = "incomplete" if choice.finish_reason is FinishReason.LENGTH else "completed"
        incomplete = IncompleteDetails() if status == "incomplete" else None
        if choice.reasoning:
            output.append(reasoning_item(facts.id, choice.reasoning, status, facts.encrypted_reasoning))
        if choice.text or not choice.tool_calls:
            output.append(output_message(facts.id, choice.text, status))
        output += tools.call_items(choice.tool_calls)
    error = None
    if facts.error is not None:
        error = ResponseErrorBody(code=str(facts.error.get("code")), message=str(facts.error.get("error")))
    return ResponseObject(
        id=facts.id,
        created_at=facts.created_at,
        completed_at=facts.completed_at,
        model=facts.model,
        status=status,  # type: ignore[arg-type]
        output=output,
        usage=to_usage(facts.usage) if facts.usage is not None else None,
        error=error,
        incomplete_details=incomplete,
        previous_response_id=facts.previous_response_id,
        store=facts.store,
        instructions=facts.metadata.get("instructions"),
        metadata=facts.metadata.get("response_metadata") or {},
        temperature=facts.params.temperature,
        top_p=facts.params.top_p,
        max_output_tokens=facts.params.max_tokens,
        **_echoed(facts.metadata),
    )


def _echoed(metadata: dict[str, Any]) -> dict[str, Any]:
    """The request's format and tool fields, as the response object repeats them."""
    echo: dict[str, Any] = {}
    if "text_format" in metadata:
        echo["text"] = TextConfig(format=metadata["text_format"])
    for key in ("tools", "tool_choice", "parallel_tool_calls"):
        if key in metadata:
            echo[key] = metadata[key]
    return echo


def response_dict(response: ResponseObject) -> dict[str, Any]:
    """JSON form; an absent ``usage`` is left out, not ``null`` (the AI SDK's schema wants it absent)."""
    data = response.model_dump(mode="json")
    if data["usage"] is None:
        del data["usage"]
    return data
