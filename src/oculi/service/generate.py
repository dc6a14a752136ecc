"""The one generation pipeline: validate → history → admission → intake → engine → result → store.

Every wire surface (chat completions, Responses, gRPC, deferred, the CLI)
builds a ``GenerationRequest`` and calls ``Generator.start``. Everything that
can be refused (unknown model or response id, bad images, context length,
overload) is refused inside ``start``, before any byte of an answer is sent,
so the surface can still answer with a proper status. The returned
``GenerationRun`` is one async iterator of ``Delta``s; streaming and
non-streaming surfaces consume the same iterator (``Generator.complete``
drains it). When the run finishes it stores itself if asked to.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from oculi.domain import (
    Choice,
    Completion,
    Conversation,
    Delta,
    FinishReason,
    GenerationParams,
    ImageDetailUsage,
    ImagePart,
    Message,
    OutputSpec,
    Role,
    TextPart,
    Usage,
)
from oculi.engines.base import Engine, EngineRequest
from oculi.engines.registry import EngineRegistry
from oculi.errors import InvalidRequest, ResponseNotFound
from oculi.intake.pipeline import Intake
from oculi.intake.types import FileImage, PreparedImage
from oculi.metrics import Metrics
from oculi.reasoning import ReasoningCollector, ThinkingPlan, plan_thinking
from oculi.reasoning.sealed import ReasoningSeal
from oculi.service.admission import Admission, Ticket, check_text_length
from oculi.service.files import FileService
from oculi.store.base import ResponseStatus, StoredResponse
from oculi.store.responses import ResponseStore
from oculi.structured import OutputPlan, plan
from oculi.structured.calls import CallCollector

log = logging.getLogger(__name__)

DAY = 86400

#: Where each surface's request keeps the response format's schema (named in 400s).
FORMAT_PARAMS = {"chat": "response_format.json_schema", "responses": "text.format", "grpc": "response_format"}


def new_id() -> str:
    """A fresh response / request id."""
    return str(uuid.uuid4())


@dataclass
class GenerationRequest:
    """A wire-neutral generation request.

    ``conversation`` is this request's input; with ``previous_response_id``
    the stored conversation (and its answer) is put in front of it.
    ``owner`` scopes stored responses (a hash of the API key). ``output``:
    response format and tools (``oculi.structured``).
    """

    model: str
    conversation: Conversation
    params: GenerationParams = field(default_factory=GenerationParams)
    owner: str = ""
    surface: str = "chat"
    store: bool = False
    previous_response_id: str | None = None
    id: str = field(default_factory=new_id)
    metadata: dict[str, Any] = field(default_factory=dict)
    output: OutputSpec = field(default_factory=OutputSpec)
    #: The wire field that carried ``params.max_tokens`` (errors name what the caller sent).
    max_tokens_param: str = "max_tokens"
    #: The wire field that carries the conversation's text (``messages`` / ``input``).
    text_param: str = "messages"
    #: The wire field that carried ``params.reasoning_effort``.
    effort_param: str = "reasoning_effort"


def check_image_role(role: Role, param: str) -> None:
    """Images belong to user turns; every wire mapper calls this with its own field path as ``param``."""
    if role is not Role.USER:
        raise InvalidRequest(
            f"Images are only accepted in user messages; {param} is in a {role.value} message.", param=param
        )


def validate(request: GenerationRequest) -> None:
    """Checks every surface shares (wire schemas check types; this checks meaning)."""
    p = request.params
    if not request.conversation.messages and request.previous_response_id is None:
        raise InvalidRequest("The request has no messages. Send at least one message.", param="messages")
    if p.max_tokens is not None and p.max_tokens < 1:
        name = request.max_tokens_param
        raise InvalidRequest(f"{name} must be at least 1, got {p.max_tokens}.", param=name)
    if not 0 <= p.temperature <= 2:
        raise InvalidRequest(f"temperature must be between 0 and 2, got {p.temperature}.", param="temperature")
    if not 0 < p.top_p <= 1:
        raise InvalidRequest(f"top_p must be in (0, 1], got {p.top_p}.", param="top_p")
    if not 1 <= p.n <= 16:
        raise InvalidRequest(f"n must be between 1 and 16, got {p.n}.", param="n")
    if len(p.stop) > 8:
        raise InvalidRequest(f"At most 8 stop sequences are allowed, got {len(p.stop)}.", param="stop")


def check_max_tokens(request: GenerationRequest, context_length: int) -> None:
    """The one ``max_tokens`` rule, for every engine and surface (as the hosted APIs answer).

    More than the model's context can ever hold is a 400 naming the limit
    ("max_tokens is too large: ... supports at most N"); within it, a prompt
    that leaves less room only means the answer may end early with
    ``finish_reason: length``.
    """
    wanted = request.params.max_tokens
    if wanted is not None and wanted > context_length:
        name = request.max_tokens_param
        raise InvalidRequest(
            f"{name} is too large: {wanted}. This model supports at most {context_length} completion tokens "
            f"(its context length), whereas you provided {wanted}. Lower {name} or leave it unset.",
            param=name,
        )


class GenerationRun:
    """One admitted generation: iterate it for ``Delta``s; ``completion`` is set when it ends."""

    def __init__(
        self,
        generator: Generator,
        request: GenerationRequest,
        engine: Engine,
        conversation: Conversation,
        images: list[PreparedImage],
        ticket: Ticket,
        output: OutputPlan | None = None,
        thinking: ThinkingPlan | None = None,
    ) -> None:
        self.request = request
        self.output = output or OutputPlan()
        self.thinking = thinking
        self.engine = engine
        self.conversation = conversation
        self.images = images
        self.id = request.id
        self.model = engine.info.id
        self.created = int(time.time())
        self.completion: Completion | None = None
        self._generator = generator
        self._ticket = ticket
        self._stream: AsyncIterator[Delta] | None = None

    @property
    def thinks(self) -> bool:
        """Whether this run's model thinks (its output may carry reasoning)."""
        return self.thinking is not None and self.engine.info.reasoning is not None

    @property
    def image_tokens(self) -> int:
        """SPEC §3 image tokens of every image in the (full) conversation."""
        return sum(image.image_tokens for image in self.images)

    async def __aiter__(self) -> AsyncIterator[Delta]:
        engine_request = EngineRequest(
            self.id, self.conversation, self.images, self.request.params, self.output, self.thinking
        )
        stream = self.engine.generate(engine_request)
        self._stream = stream
        texts: dict[int, list[str]] = {}
        finish: dict[int, FinishReason] = {}
        usage: Usage | None = None
        fmt = self.engine.info.reasoning if self.thinking is not None else None
        split = ReasoningCollector(fmt, inside=self.thinking is not None and self.thinking.starts_inside(fmt))
        calls = CallCollector(self.output.parse_tool_calls)
        try:
            async for raw in stream:
                delta = calls.delta(split.delta(raw))
                texts.setdefault(delta.index, []).append(delta.text)
                if delta.finish_reason is not None:
                    finish[delta.index] = delta.finish_reason
                if delta.usage is not None:
                    if split.texts and not delta.usage.reasoning_tokens:
                        delta = self._count_reasoning(delta, split)
                    usage = delta.usage
                    if usage is not None and self.images and not usage.image_details:
                        usage = with_image_details(usage, self.images)
                        delta = dataclasses.replace(delta, usage=usage)
                yield delta
        finally:
            await self.aclose()
        if usage is None:
            raise RuntimeError(f"engine {self.model} ended its stream without usage")
        choices = [
            Choice(
                i,
                calls.content("".join(texts.get(i, [])), i),
                finish.get(i, FinishReason.STOP),
                calls.calls(i),
                split.reasoning(i),
            )
            for i in range(self.request.params.n)
        ]
        self.completion = Completion(self.id, self.model, self.created, choices, usage)
        await self._generator.finish(self)

    def _count_reasoning(self, delta: Delta, split: ReasoningCollector) -> Delta:
        """``delta`` with reasoning tokens counted by the tokenizer, for engines that do not count them."""
        assert delta.usage is not None and split.fmt is not None
        end = len(self.engine.tokenize(split.fmt.end))
        counted = 0
        for index, splitter in split.splitters.items():
            text = split.reasoning(index)
            if text:
                counted += len(self.engine.tokenize(text)) + (0 if splitter.thinking else end)
        usage = dataclasses.replace(delta.usage, reasoning_tokens=min(counted, delta.usage.completion_tokens))
        return dataclasses.replace(delta, usage=usage)

    async def aclose(self) -> None:
        """Stop the engine (if still running) and release the admission ticket."""
        stream, self._stream = self._stream, None
        if stream is not None and hasattr(stream, "aclose"):
            await stream.aclose()
        self._generator.admission.release(self._ticket)


class Generator:
    """Runs generations for every surface (see module docstring)."""

    def __init__(
        self,
        registry: EngineRegistry,
        intake: Intake,
        responses: ResponseStore,
        admission: Admission,
        *,
        retention_days: float = 30,
        metrics: Metrics | None = None,
        files: FileService | None = None,
        reasoning_budgets: dict[str, int] | None = None,
        seal: ReasoningSeal | None = None,
    ) -> None:
        self.registry = registry
        self.reasoning_budgets = reasoning_budgets or {}
        self.seal = seal or ReasoningSeal()  # signs reasoning.encrypted_content blobs
        self.files = files  # resolves fileid: images for the request's owner
        self.intake = intake
        self.responses = responses  # stored conversations, their images, and where runs are stored
        self.admission = admission
        self.retention_days = retention_days
        self.metrics = metrics

    async def history(self, previous_response_id: str | None, owner: str) -> Conversation:
        """The stored conversation (with its answer) that ``previous_response_id`` continues."""
        if previous_response_id is None:
            return Conversation()
        previous = await self.responses.get_response(previous_response_id, owner)
        if previous is None or previous.status is not ResponseStatus.COMPLETED:
            raise ResponseNotFound(
                f"No stored response with id '{previous_response_id}' for this API key "
                "(it may have expired, been deleted, or been created with store=false).",
                param="previous_response_id",
            )
        return previous.output_conversation

    async def start(self, request: GenerationRequest) -> GenerationRun:
        """Validate, load history, admit, take in images: everything refusable is refused here."""
        validate(request)
        engine = self.registry.resolve(request.model)
        # A new schema takes llguidance some milliseconds to compile: off the event loop (cached ones are instant).
        # A plain request has nothing to compile and skips the thread hand-off.
        if request.output.is_plain:
            output = self.output_plan(request, engine)
        else:
            output = await asyncio.to_thread(self.output_plan, request, engine)
        check_max_tokens(request, engine.info.context_length)
        thinking = plan_thinking(
            engine.info.reasoning,
            request.params.reasoning_effort,
            engine.info.id,
            self.reasoning_budgets,
            param=request.effort_param,
        )
        if request.store:
            await self.responses.check_available()
        history = await self.history(request.previous_response_id, request.owner)
        conversation = history.continued_by(request.conversation)
        parts = conversation.images()
        chars = conversation_chars(conversation)
        check_text_length(chars, engine.info.context_length, param=request.text_param)
        files = await self.files.image_files(request.owner, parts) if self.files is not None else {}
        ticket = self.admission.admit(parts, text_chars=chars, known_bytes=await self.stored_sizes(parts, files))
        try:
            load_file = partial(_resolved, files) if self.files is not None else None
            images = await self.intake.prepare(
                parts,
                engine.pixel_spec,
                load_stored=self.responses.get_image,
                load_file=load_file,
                charge=partial(self.admission.charge, ticket),
                question=question_text(conversation),
            )
        except BaseException:
            self.admission.release(ticket)
            raise
        return GenerationRun(self, request, engine, conversation, images, ticket, output, thinking)

    async def stored_sizes(self, parts: list[ImagePart], files: dict[str, FileImage]) -> dict[str, int]:
        """The size of every image of ``parts`` the store holds, by reference, read without its bytes.

        Uploaded files (also those a stored conversation names) and a stored
        conversation's or batch request's images are admitted by what they
        are, as the same images inline would be (intake charges a file's
        decoded cost from the header the store kept, before reading it).
        """
        known = {p.url: files[fid].nbytes for p in parts if (fid := p.file_id) is not None and fid in files}
        hashes = sorted({h for p in parts if (h := p.stored_sha256) is not None})
        if hashes:
            sizes = await self.responses.image_sizes(hashes)
            known |= {p.url: sizes[h] for p in parts if (h := p.stored_sha256) is not None and h in sizes}
        return known

    def output_plan(self, request: GenerationRequest, engine: Engine) -> OutputPlan:
        """The grammar / tool plan of ``request``, refused with a 400 by engines that cannot follow one."""
        if request.output.is_plain:
            return OutputPlan()
        if not engine.info.structured_output:
            able = [e.info.id for e in self.registry.engines() if e.info.structured_output]
            raise InvalidRequest(
                f"The model {engine.info.id} cannot follow a response format or call tools. "
                + (f"Use one of: {', '.join(able)}." if able else "Serve a vision-language model (--model) for that."),
                param="response_format" if not request.output.tools else "tools",
                code="structured_output_unsupported",
            )
        return plan(request.output, format_param=FORMAT_PARAMS.get(request.surface, "response_format"))

    async def complete(self, request: GenerationRequest) -> Completion:
        """Run to the end and return the completion (the non-streaming path)."""
        run = await self.start(request)
        async for _ in run:
            pass
        assert run.completion is not None
        return run.completion

    async def finish(self, run: GenerationRun) -> None:
        """Account for a finished run and store it when asked to."""
        completion = run.completion
        assert completion is not None
        if self.metrics is not None:
            self.metrics.prompt_tokens.labels(run.model).inc(completion.usage.prompt_tokens)
            self.metrics.completion_tokens.labels(run.model).inc(completion.usage.completion_tokens)
        if run.request.store:
            await self.responses.put_response(await self.to_stored(run, ResponseStatus.COMPLETED))

    async def to_stored(self, run: GenerationRun, status: ResponseStatus) -> StoredResponse:
        """The record of ``run``; its images go into the store once, by hash, and are referenced.

        Images from uploaded files stay file references: the file's owner
        decides how long they live, and a deleted file is gone for stored
        conversations too (continuing one is then a 404 naming the file).
        """
        parts = run.conversation.images()
        await self.responses.put_images(
            {image.sha256: image.data for part, image in zip(parts, run.images, strict=True) if part.file_id is None}
        )
        completion = run.completion
        now = int(time.time())
        return StoredResponse(
            id=run.id,
            owner=run.request.owner,
            model=run.model,
            created_at=run.created,
            expires_at=now + int(self.retention_days * DAY),
            status=status,
            surface=run.request.surface,
            conversation=stored_conversation(run.conversation, run.images),
            params=run.request.params,
            choices=completion.choices if completion else [],
            usage=completion.usage if completion else None,
            previous_response_id=run.request.previous_response_id,
            metadata=run.request.metadata
            if run.request.output.is_plain
            else {**run.request.metadata, "output": run.request.output.to_dict()},
        )


async def _resolved(files: dict[str, FileImage], file_id: str) -> FileImage:
    """Intake's ``load_file`` over files ``FileService.image_files`` already looked up (every id is there)."""
    return files[file_id]


def with_image_details(usage: Usage, images: list[PreparedImage]) -> Usage:
    """``usage`` saying at which level each image was fed and why (intake's decision)."""
    details = tuple(ImageDetailUsage(i.plan.detail.value, i.reason, i.image_tokens) for i in images)
    return dataclasses.replace(usage, image_details=details)


def question_text(conversation: Conversation) -> str:
    """What the users asked in ``conversation`` (every user turn's text): the ``content`` detail policy reads it."""
    return "\n".join(m.text for m in conversation.messages if m.role is Role.USER)


def conversation_chars(conversation: Conversation) -> int:
    """Characters of text in ``conversation``: what the tokenizer will be handed, counted without it."""
    return sum(len(p.text) for m in conversation.messages for p in m.parts if isinstance(p, TextPart))


def stored_conversation(conversation: Conversation, images: list[PreparedImage]) -> Conversation:
    """``conversation`` with every image replaced by a ``stored:<sha256>`` reference (file references kept)."""
    it = iter(images)
    messages = []
    for message in conversation.messages:
        parts = [_stored_part(p, next(it)) if isinstance(p, ImagePart) else p for p in message.parts]
        messages.append(Message(message.role, parts))
    return Conversation(messages)


def _stored_part(part: ImagePart, image: PreparedImage) -> ImagePart:
    return part if part.file_id is not None else ImagePart.stored(image.sha256, part.detail)
