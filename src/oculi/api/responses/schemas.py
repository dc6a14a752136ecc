"""Wire schemas of the Responses API (``/v1/responses``).

Requests: ``input`` is a string or a list of message items (``type:
"message"`` optional) whose content is a string or parts ``input_text`` /
``input_image`` (assistant turns: ``output_text``). Part types and detail
values are plain strings so the mapper can refuse unknown ones with a 400
naming the field. The response object and the stream events carry every
field openai-python's ``Response`` and the AI SDK's zod schemas read (SPEC §5, §6).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from oculi.api.image_detail import ImageDetail


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class InputImageURL(_Wire):
    """``image_url`` given as an object (some clients send ``{"url": ...}``)."""

    url: str
    detail: str | None = None


class InputContentPart(_Wire):
    """``input_text{text}``, ``input_image{image_url | file_id, detail}``, ``input_file{file_id | file_url |
    file_data}`` (an image file) or (assistant) ``output_text{text}``."""

    type: str
    text: str | None = None
    image_url: str | InputImageURL | None = None
    detail: str | None = None
    file_id: str | None = None
    file_url: str | None = None
    file_data: str | None = None
    filename: str | None = None


class InputItem(_Wire):
    """An item of ``input``: a message, or a ``function_call`` / ``function_call_output`` of an earlier turn."""

    type: str | None = None
    role: str | None = None
    content: str | list[InputContentPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | list[InputContentPart] | None = None
    encrypted_content: str | None = None  # a reasoning item's signed blob (include reasoning.encrypted_content)
    summary: list[InputContentPart] | None = None  # a reasoning item's summary_text parts


class TextFormatParam(_Wire):
    """``text.format``: ``{"type": "text" | "json_object" | "json_schema", name?, schema?, strict?}``."""

    type: str
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: StrictBool | None = None
    description: str | None = None


class TextParam(_Wire):
    """``text``: the output's format."""

    format: TextFormatParam | None = None


class FunctionToolParam(_Wire):
    """``tools[]`` in the Responses (flat) shape: ``{"type": "function", "name", "parameters", ...}``."""

    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class NamedToolChoiceParam(_Wire):
    """``tool_choice`` naming one function: ``{"type": "function", "name"}``."""

    type: str
    name: str | None = None


class ReasoningParam(_Wire):
    """``reasoning``: ``effort`` (none … xhigh) of a thinking model; ``summary`` is accepted and ignored."""

    effort: str | None = None
    summary: str | None = None


class ResponseCreateRequest(_Wire):
    """``POST /v1/responses`` body."""

    model: str
    input: str | list[InputItem]
    instructions: str | None = None
    max_output_tokens: StrictInt | None = None
    temperature: StrictFloat | None = None
    top_p: StrictFloat | None = None
    seed: StrictInt | None = None
    store: StrictBool | None = True
    previous_response_id: str | None = None
    stream: StrictBool | None = False
    metadata: dict[str, str] | None = None
    text: TextParam | None = None
    tools: list[FunctionToolParam] | None = None
    tool_choice: str | NamedToolChoiceParam | None = None
    parallel_tool_calls: StrictBool | None = None
    reasoning: ReasoningParam | None = None
    include: list[str] | None = None


# --- the response object --------------------------------------------------------------


class OutputText(BaseModel):
    """A text part of the output message."""

    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class OutputMessage(BaseModel):
    """The assistant message item of ``output``."""

    type: Literal["message"] = "message"
    id: str
    role: Literal["assistant"] = "assistant"
    status: Literal["in_progress", "completed", "incomplete"]
    content: list[OutputText]


class ReasoningText(BaseModel):
    """A ``reasoning_text`` part of a reasoning item: the model's thinking."""

    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


class SummaryText(BaseModel):
    """A ``summary_text`` part of a reasoning item: where xAI's API (and the AI SDK) put the reasoning."""

    type: Literal["summary_text"] = "summary_text"
    text: str


class ReasoningItem(BaseModel):
    """The ``reasoning`` output item, before the message: a thinking model's reasoning.

    The whole reasoning is both its ``summary`` (as xAI's API returns it, and
    the AI SDK reads it) and its ``content`` (``reasoning_text``, as openai's
    types define the raw reasoning). ``encrypted_content``: with ``include:
    ["reasoning.encrypted_content"]``, the server-signed blob that carries it
    into a later request's ``input``.
    """

    type: Literal["reasoning"] = "reasoning"
    id: str
    summary: list[SummaryText] = Field(default_factory=list)
    content: list[ReasoningText] = Field(default_factory=list)
    encrypted_content: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] = "completed"


class FunctionCallItem(BaseModel):
    """A ``function_call`` output item: the model calls ``name`` with ``arguments`` (JSON text)."""

    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"] = "completed"


class InputTokensDetails(BaseModel):
    """Prompt breakdown (``image_tokens``: SPEC §3)."""

    cached_tokens: int
    cache_write_tokens: int = 0
    text_tokens: int
    image_tokens: int
    #: Per image of the prompt: the detail level it was fed at and why (oculi; left out without images).
    image_details: list[ImageDetail] | None = Field(default=None, exclude_if=lambda v: v is None)


class PromptTokensDetails(BaseModel):
    """The chat-style breakdown, which SPEC §3 also asks for on Responses."""

    text_tokens: int
    image_tokens: int
    cached_tokens: int
    #: Per image of the prompt: the detail level it was fed at and why (oculi; left out without images).
    image_details: list[ImageDetail] | None = Field(default=None, exclude_if=lambda v: v is None)


class OutputTokensDetails(BaseModel):
    """Output breakdown: ``reasoning_tokens`` of a thinking model (part of ``output_tokens``)."""

    reasoning_tokens: int = 0


class ResponseUsage(BaseModel):
    """``usage`` of a response."""

    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class ResponseErrorBody(BaseModel):
    """``error`` of a failed response."""

    code: str
    message: str


class IncompleteDetails(BaseModel):
    """Why a response is ``incomplete``."""

    reason: Literal["max_output_tokens"] = "max_output_tokens"


class TextFormat(BaseModel):
    """``text.format``: plain text output."""

    type: Literal["text"] = "text"


class TextConfig(BaseModel):
    """``text``: output format configuration (echoes the request's ``text.format``)."""

    format: TextFormat | dict[str, Any] = Field(default_factory=TextFormat)


class ResponseObject(BaseModel):
    """``object: "response"``."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    completed_at: int | None = None
    model: str
    status: Literal["in_progress", "completed", "incomplete", "failed"]
    output: list[ReasoningItem | OutputMessage | FunctionCallItem]
    usage: ResponseUsage | None = None
    error: ResponseErrorBody | None = None
    incomplete_details: IncompleteDetails | None = None
    previous_response_id: str | None = None
    store: bool
    instructions: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    temperature: float
    top_p: float
    max_output_tokens: int | None = None
    parallel_tool_calls: bool = True
    tool_choice: str | dict[str, Any] = "auto"
    tools: list[Any] = Field(default_factory=list)
    text: TextConfig = Field(default_factory=TextConfig)
    truncation: Literal["disabled"] = "disabled"
    background: bool = False


class ResponseDeletedResponse(BaseModel):
    """Answer to ``DELETE /v1/responses/{id}``."""

    id: str
    object: Literal["response"] = "response"
    deleted: bool = True


# --- stream events (SPEC §5, in this order) ------------------------------------------------


class ResponseLifecycleEvent(BaseModel):
    """``response.created`` / ``response.in_progress`` / ``response.completed`` / ``response.failed``."""

    type: Literal["response.created", "response.in_progress", "response.completed", "response.failed"]
    sequence_number: int
    response: dict[str, Any]


class OutputItemEvent(BaseModel):
    """``response.output_item.added`` / ``response.output_item.done``."""

    type: Literal["response.output_item.added", "response.output_item.done"]
    sequence_number: int
    output_index: int
    item: ReasoningItem | OutputMessage | FunctionCallItem


class ContentPartEvent(BaseModel):
    """``response.content_part.added`` / ``response.content_part.done``."""

    type: Literal["response.content_part.added", "response.content_part.done"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    part: OutputText


class OutputTextDeltaEvent(BaseModel):
    """``response.output_text.delta``: new text."""

    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[Any] = Field(default_factory=list)


class OutputTextDoneEvent(BaseModel):
    """``response.output_text.done``: the whole text."""

    type: Literal["response.output_text.done"] = "response.output_text.done"
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[Any] = Field(default_factory=list)


class ReasoningSummaryPartEvent(BaseModel):
    """``response.reasoning_summary_part.added`` / ``.done``: the reasoning item's summary part opens / closes."""

    type: Literal["response.reasoning_summary_part.added", "response.reasoning_summary_part.done"]
    sequence_number: int
    item_id: str
    output_index: int
    summary_index: int
    part: SummaryText


class ReasoningSummaryTextDeltaEvent(BaseModel):
    """``response.reasoning_summary_text.delta``: new reasoning text."""

    type: Literal["response.reasoning_summary_text.delta"] = "response.reasoning_summary_text.delta"
    sequence_number: int
    item_id: str
    output_index: int
    summary_index: int
    delta: str


class ReasoningSummaryTextDoneEvent(BaseModel):
    """``response.reasoning_summary_text.done``: the whole reasoning text."""

    type: Literal["response.reasoning_summary_text.done"] = "response.reasoning_summary_text.done"
    sequence_number: int
    item_id: str
    output_index: int
    summary_index: int
    text: str


class FunctionCallArgumentsDeltaEvent(BaseModel):
    """``response.function_call_arguments.delta``: more argument text of a ``function_call`` item."""

    type: Literal["response.function_call_arguments.delta"] = "response.function_call_arguments.delta"
    sequence_number: int
    item_id: str
    output_index: int
    delta: str


class FunctionCallArgumentsDoneEvent(BaseModel):
    """``response.function_call_arguments.done``: the item's whole arguments."""

    type: Literal["response.function_call_arguments.done"] = "response.function_call_arguments.done"
    sequence_number: int
    item_id: str
    output_index: int
    arguments: str


class ErrorEvent(BaseModel):
    """``error``: the stream failed."""

    type: Literal["error"] = "error"
    sequence_number: int
    code: str
    message: str
    param: str | None = None
