"""The vLLM engine: a checkpoint served by vLLM's in-process async engine (``AsyncLLM``).

Data flow of one request::

    EngineRequest ──prompter──▶ token ids + images (TileStacks or decoded) + their content-hash ids
                  ──context check──▶ AsyncLLM.generate (DELTA outputs) ──▶ Delta stream

vLLM batches, schedules and caches (prefix cache, encoder cache keyed by
oculi's content hash); oculi keeps its intake (images arrive decoded and
tiled, never as URLs or bytes) and its accounting. A family whose views are
one stacked image (InternVL) sees exactly SPEC §3's views (``tiles.py``);
the other families of ``oculi.families`` get the views rendered at their
view size through vLLM's own processor (``prompt.ViewImagesPrompter``);
other models use vLLM's processor on the decoded image and report its
placeholder counts. Scaling knobs are vLLM's
own (``args.py``, ``docs/scaling.md``). Response formats and required tool
calls decode under oculi's grammar (``oculi.structured``) through vLLM's
``guidance`` structured-output backend (llguidance, the same compiler the
other engines use), per request, in the same batch as free-text requests.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from oculi import families
from oculi.domain import Delta, FinishReason, GenerationParams, Usage
from oculi.engines.base import EngineRequest, ModelInfo, Token, check_params
from oculi.engines.common.checkpoint import load_processor, model_id, resolve_checkpoint
from oculi.engines.common.thinking import reasoning_format, thinking_model
from oculi.engines.vllm.args import engine_kwargs, known_fields
from oculi.engines.vllm.prompt import ProcessorPrompter, TiledPrompter, ViewImagesPrompter, VLLMPrompt
from oculi.engines.vllm.thinking import budget_option, engine_options, tags_as_text_tokenizer
from oculi.errors import (
    ContextLengthExceeded,
    ImageError,
    InvalidRequest,
    ModelUnavailable,
    Unavailable,
    public_reason,
)
from oculi.intake.types import PixelSpec
from oculi.reasoning.effort import ThinkingPlan
from oculi.reasoning.formats import ReasoningFormat
from oculi.reasoning.model import ThinkingModel
from oculi.reasoning.tracker import ThinkTracker
from oculi.settings import Settings
from oculi.structured.grammar import JSON_OPTIONS, Grammar

log = logging.getLogger(__name__)

#: KV cache memory (GiB) given to vLLM's CPU build when neither ``VLLM_CPU_KVCACHE_SPACE`` nor
#: ``--vllm-arg kv_cache_memory_bytes=N`` sizes it (it refuses to start on a machine with little free memory otherwise).
DEFAULT_CPU_KVCACHE_GIB = "4"

#: Largest side of the decoded image handed to vLLM's processor (families other than InternVL).
FULL_IMAGE_MAX_SIDE = 2048

_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH, "abort": FinishReason.CANCELLED}

DEAD_MESSAGE = "The vLLM engine has stopped (see the server log); restart the server to serve requests again."


def is_available() -> bool:
    """Whether vLLM can be imported here."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def load(spec: str, settings: Settings) -> VLLMEngine:
    """Start vLLM on checkpoint ``spec`` (a local directory or a Hugging Face id) as an engine.

    Raises ``ModelUnavailable`` when vLLM is not installed or the checkpoint
    is missing, ``ConfigurationError`` for an unknown ``--vllm-arg``.
    """
    if not is_available():
        raise ModelUnavailable(
            "The vLLM engine needs vLLM: on a CUDA host `pip install -e '.[vllm]'`, on a CPU-only host "
            "`OCULI_VLLM=cpu ./scripts/install.sh` (see the README)."
        )
    from transformers import AutoConfig
    from vllm.config import StructuredOutputsConfig
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.platforms import current_platform
    from vllm.v1.engine.async_llm import AsyncLLM

    from oculi.engines.vllm.plugin import register

    path = resolve_checkpoint(spec, settings)
    config = AutoConfig.from_pretrained(path)
    family = families.match(config)
    processor = load_processor(path)
    known = known_fields(AsyncEngineArgs)
    kwargs = engine_kwargs(str(path), settings, known, family=family)
    fmt = reasoning_format(processor, settings.reasoning_parser)
    kwargs.update(engine_options(fmt, known, kwargs["structured_outputs_config"]))
    thinking = thinking_model(fmt, processor.tokenizer)
    tags = (
        sorted(processor.tokenizer.convert_ids_to_tokens(list(thinking.special_tags(processor.tokenizer))))
        if thinking
        else []
    )
    if tags:
        kwargs["tokenizer"] = str(tags_as_text_tokenizer(path, tags))
    kwargs["structured_outputs_config"] = StructuredOutputsConfig(**kwargs["structured_outputs_config"])
    register()
    # An explicit --vllm-arg kv_cache_memory_bytes=N is the operator's size: vLLM's CPU build would let the
    # environment variable override it, so the default is set only when neither is given.
    if (
        current_platform.is_cpu()
        and "VLLM_CPU_KVCACHE_SPACE" not in os.environ
        and kwargs.get("kv_cache_memory_bytes") is None
    ):
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = DEFAULT_CPU_KVCACHE_GIB
        log.info("VLLM_CPU_KVCACHE_SPACE unset: giving vLLM %s GiB of KV cache", DEFAULT_CPU_KVCACHE_GIB)
    log.info("starting vLLM on %s with %s", path, kwargs)
    llm = AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs))
    engine = VLLMEngine(
        model_id(spec), path, llm, processor, config, family=family, device=current_platform.device_type
    )
    engine.set_reasoning(fmt, thinking)
    return engine


class VLLMEngine:
    """A running ``AsyncLLM`` behind the ``Engine`` protocol."""

    def __init__(
        self,
        name: str,
        path: Path,
        llm: Any,
        processor: Any,
        config: Any,
        *,
        family: families.Family | None,
        device: str,
    ) -> None:
        self.path = path
        self.llm = llm
        self.processor = processor
        self.tokenizer = processor.tokenizer
        model_config = llm.model_config
        self.context_length = int(model_config.max_model_len)
        self.prompter: TiledPrompter | ViewImagesPrompter | ProcessorPrompter
        self.image_token_id = _image_token_id(config, processor)
        self.family = family
        if family is not None:
            image_processor = processor.image_processor
            mean = tuple(float(x) for x in image_processor.image_mean)
            std = tuple(float(x) for x in image_processor.image_std)
            if family.grouping is families.Grouping.STACK:
                self.prompter = TiledPrompter(processor, config, family.tokens_per_view(config))
                self._pixel_spec = family.pixel_spec(mean, std)  # type: ignore[arg-type]
            else:  # vLLM's processor normalises: hand it the views as images
                assert self.image_token_id is not None
                self.prompter = ViewImagesPrompter(processor, family, self.image_token_id)
                self._pixel_spec = family.pixel_spec(mean, std, normalise=False)  # type: ignore[arg-type]
        else:
            self.prompter = ProcessorPrompter(processor)
            self._pixel_spec = PixelSpec(tiles=False, full_image_max_side=FULL_IMAGE_MAX_SIDE)
        self.thinking: ThinkingModel | None = None
        self._info = ModelInfo(
            id=name,
            architecture=(config.architectures or ["?"])[0],
            context_length=self.context_length,
            created=int(time.time()),
            dtype=str(model_config.dtype).removeprefix("torch."),
            device=device,
            structured_output=True,
        )
        log.info(
            "vLLM engine ready: %s (%s) context=%d images=%s",
            name,
            self._info.architecture,
            self.context_length,
            f"SPEC views of {family.view_size} px ({family.name})" if family else "vLLM's processor",
        )

    def set_reasoning(self, fmt: ReasoningFormat | None, thinking: ThinkingModel | None) -> None:
        """Serve as a thinking model of format ``fmt`` (vLLM was started with the matching options)."""
        self._info = dataclasses.replace(self._info, reasoning=fmt)
        self.thinking = thinking

    @property
    def info(self) -> ModelInfo:
        """Static facts about the model."""
        return self._info

    @property
    def pixel_spec(self) -> PixelSpec:
        """The family's views (``oculi.families``) or the decoded image (vLLM's processor)."""
        return self._pixel_spec

    @property
    def problem(self) -> str | None:
        """Why the engine cannot serve (``/health`` reports it), or None while it can."""
        return DEAD_MESSAGE if self.llm.errored else None

    def tokenize(self, text: str) -> list[Token]:
        """Plain-text tokenization with the model's tokenizer (no template, no special tokens added)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [Token(int(i), self.tokenizer.decode([i])) for i in ids]

    def build_prompt(self, request: EngineRequest) -> VLLMPrompt:
        """vLLM's prompt for ``request`` (public for token counting and tests)."""
        switch = self.thinking.switch(request.thinking) if self.thinking is not None else None
        return self.prompter.build(request.conversation, request.images, request.output.tools, switch)

    async def generate(self, request: EngineRequest) -> AsyncIterator[Delta]:
        """Stream the answer; see ``Engine`` for the contract."""
        from vllm.exceptions import VLLMValidationError
        from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

        params = request.params
        check_params(params)
        if self.llm.errored:
            raise Unavailable(DEAD_MESSAGE)
        prompt = self.build_prompt(request)
        max_tokens = params.max_tokens
        if prompt.length is not None:
            if prompt.length >= self.context_length:
                raise ContextLengthExceeded(prompt.length, self.context_length, max_tokens=params.max_tokens)
            room = self.context_length - prompt.length
            max_tokens = room if max_tokens is None else min(max_tokens, room)
        request_id = f"{request.request_id}-{uuid.uuid4().hex[:8]}"
        sampling = _sampling(params, max_tokens, request.output.grammar, request.thinking)
        stream = self.llm.generate(prompt.prompt, sampling, request_id)
        trackers = self.thinking.trackers(request.thinking, params.n) if self.thinking is not None else None
        usage = Usage(prompt_text_tokens=0, prompt_image_tokens=0)
        if prompt.length is not None and prompt.image_tokens is not None:
            usage.prompt_image_tokens = prompt.image_tokens
            usage.prompt_text_tokens = prompt.length - prompt.image_tokens
        finished = False
        try:
            first = True
            try:
                async for out in stream:
                    if first:
                        first = False
                        self._prompt_usage(out, prompt, usage)
                        yield Delta(usage=Usage(**usage.to_dict()))
                    for choice in out.outputs:
                        usage.completion_tokens += len(choice.token_ids)
                        if trackers is not None:
                            count(trackers[choice.index], choice.token_ids)
                        reason = _FINISH.get(choice.finish_reason or "")
                        if choice.finish_reason is not None and reason is None:
                            reason = FinishReason.ERROR
                        if choice.text or reason is not None:
                            yield Delta(index=choice.index, text=choice.text, finish_reason=reason)
                    if out.finished:
                        finished = True
                        usage.cached_prompt_tokens = int(getattr(out, "num_cached_tokens", 0) or 0)
            except EngineDeadError as exc:
                raise Unavailable(DEAD_MESSAGE) from exc
            except VLLMValidationError as exc:
                raise _client_error(exc, params) from exc
            except EngineGenerateError as exc:
                # vLLM's processor refused the input (e.g. Qwen2-VL's resize a 2048×1 strip): the image's fault.
                if first and request.images and isinstance(exc.__cause__, ValueError):
                    raise ImageError(
                        f"the model's image processor cannot take an image of this shape "
                        f"({public_reason(exc.__cause__)})."
                    ) from exc
                raise
            usage.reasoning_tokens = sum(t.count for t in trackers or [])
            yield Delta(usage=usage)
        finally:
            await stream.aclose()
            if not finished and not self.llm.errored:
                await self.llm.abort(request_id)
                log.info("request %s aborted in vLLM (the caller went away)", request_id)

    def _prompt_usage(self, out: Any, prompt: VLLMPrompt, usage: Usage) -> None:
        """Prompt counts from what vLLM actually fed the model (its expanded prompt ids)."""
        ids = getattr(out, "prompt_token_ids", None)
        if ids is None:
            return
        image_tokens = 0 if self.image_token_id is None else sum(1 for i in ids if i == self.image_token_id)
        planned = (prompt.length or len(ids), prompt.image_tokens)
        if prompt.image_tokens is not None and (len(ids), image_tokens) != planned:
            log.error(
                "vLLM expanded the prompt to %d tokens (%d image), oculi planned %d (%d image)",
                len(ids),
                image_tokens,
                prompt.length,
                prompt.image_tokens,
            )
        usage.prompt_image_tokens = image_tokens
        usage.prompt_text_tokens = len(ids) - image_tokens

    async def close(self) -> None:
        """Stop vLLM's engine core and workers."""
        self.llm.shutdown()


def _image_token_id(config: Any, processor: Any) -> int | None:
    for source, name in ((config, "image_token_id"), (config, "image_token_index"), (processor, "image_token_id")):
        value = getattr(source, name, None)
        if value is not None:
            return int(value)
    return None


def count(tracker: ThinkTracker, token_ids: Any) -> None:
    """Follow one choice's new tokens through its think block (reasoning tokens for usage)."""
    for token in token_ids:
        tracker.advance(int(token))


def _sampling(
    params: GenerationParams, max_tokens: int | None, grammar: Grammar | None, plan: ThinkingPlan | None = None
) -> Any:
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

    return SamplingParams(
        **budget_option(plan.budget if plan is not None and plan.enabled else None),
        structured_outputs=None if grammar is None else StructuredOutputsParams(grammar=lark_source(grammar)),
        n=params.n,
        temperature=params.temperature,
        top_p=params.top_p,
        seed=params.seed,
        stop=list(params.stop) or None,
        max_tokens=max_tokens,
        output_kind=RequestOutputKind.DELTA,
    )


def lark_source(grammar: Grammar) -> str:
    """``grammar`` as the Lark text vLLM's ``guidance`` backend compiles (a schema becomes a ``%json`` embed).

    A bare schema sent as vLLM's ``json`` would be compiled with vLLM's own
    whitespace options; the embed carries oculi's (compact JSON, the
    separators ``json.dumps`` writes), so vLLM's output matches the other engines'.
    """
    if grammar.kind == "lark":
        return grammar.source
    schema = {**json.loads(grammar.source), "x-guidance": JSON_OPTIONS}
    return f"start: %json {json.dumps(schema, separators=(',', ':'))}\n"


def _client_error(exc: Exception, params: GenerationParams) -> InvalidRequest:
    """vLLM's request validation errors as oculi's 400s (the context check with both numbers)."""
    import re

    message = str(exc)
    match = re.search(r"prompt \(length (\d+)\).*maximum model length of (\d+)", message)
    if match:
        return ContextLengthExceeded(int(match[1]), int(match[2]), max_tokens=params.max_tokens)
    return InvalidRequest(message.split("\n", 1)[0])
