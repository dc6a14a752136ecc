"""The Hugging Face ``transformers`` engine: any checkpoint ``AutoModelForImageTextToText`` loads.

Data flow of one request::

    EngineRequest ──prompter──▶ Prompt (ids + pixels + token counts)
                  ──context check──▶ Job ──▶ BatchScheduler thread (prefill, batched decode)
                  ──emit──▶ asyncio queue ──▶ Delta stream

Checkpoints of the families in ``oculi.families`` are first-class
(``prompt.ViewPrompter``): intake's SPEC §3
views, rendered at the family's view size, go straight into the vision tower
and each image costs exactly ``views × 256`` tokens. Other families use the
checkpoint's processor (``prompt.ProcessorPrompter``). Loading lives in
``loading``, batching in ``batch``, streaming text in ``text``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from oculi import families
from oculi.domain import Delta, Usage
from oculi.engines.base import EngineRequest, ModelInfo, Token, check_params
from oculi.engines.common.checkpoint import load_processor, model_id, pick_device, pick_dtype, resolve_checkpoint
from oculi.engines.common.thinking import reasoning_format, thinking_model
from oculi.engines.hf.batch import DONE, BatchScheduler, Job
from oculi.engines.hf.prompt import ProcessorPrompter, Prompt, ViewPrompter
from oculi.engines.hf.vision import VisionEncoder
from oculi.errors import ContextLengthExceeded, ModelUnavailable
from oculi.intake.types import PixelSpec
from oculi.settings import Settings
from oculi.structured.matcher import Constraints

log = logging.getLogger(__name__)

#: Kinds of attention layer the batched decode serves (sliding windows run over a full cache, masked; linear
#: attention keeps per-sequence states, ``batch``).
SERVED_LAYER_TYPES = frozenset({"full_attention", "sliding_attention", "linear_attention"})


def load(spec: str, settings: Settings) -> HFEngine:
    """Load checkpoint ``spec`` (a local directory or a Hugging Face id) as an engine.

    Raises ``ModelUnavailable`` when the checkpoint is neither on disk nor in
    the hub cache and cannot be downloaded (the message says how to get it).
    """
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    path = resolve_checkpoint(spec, settings)
    threads = settings.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    device = pick_device(settings.device)
    config = AutoConfig.from_pretrained(path)
    check_supported(config, spec)
    processor = load_processor(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=pick_dtype(settings.dtype))
    model = model.to(device).eval()  # type: ignore[arg-type]
    return HFEngine(model_id(spec), path, model, processor, config, settings, threads=threads)


def check_supported(config: Any, spec: str) -> None:
    """Refuse checkpoints the batched decode cannot serve correctly, saying why."""
    text = config.get_text_config()
    layer_types = set(getattr(text, "layer_types", None) or ["full_attention"])
    mrope = families.match(config) is None and multimodal_positions(config)
    if mrope or layer_types - SERVED_LAYER_TYPES:
        reason = "multimodal rotary positions" if mrope else f"attention layers of kinds {sorted(layer_types)}"
        raise ModelUnavailable(
            f"The model {spec} ({config.model_type}) uses {reason}, which oculi's transformers engine does not "
            f"batch yet. Serve a checkpoint of a SPEC §3 family "
            f"({', '.join(f.name for f in families.FAMILIES)}) or a LLaVA-style one, "
            f"or this model through the vLLM engine."
        )


def multimodal_positions(config: Any) -> bool:
    """Whether the architecture places its text positions in 3-D from the image grids (multimodal RoPE).

    Such a model has a ``get_rope_index`` next to its classes; the batched
    decode places those positions only for a family (``Family.mrope``: the
    view prompter computes them), so any other such model is refused.
    """
    import sys

    from transformers import AutoModelForImageTextToText

    try:
        model_class = AutoModelForImageTextToText._model_mapping[type(config)]
    except (KeyError, ValueError):
        return False
    module = sys.modules.get(model_class.__module__)
    return any(hasattr(getattr(module, name), "get_rope_index") for name in dir(module) if name.endswith("Model"))


def _eos_ids(model: Any, config: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), config.get_text_config(), tokenizer):
        value = getattr(source, "eos_token_id", None)
        if value is None:
            continue
        ids.update(int(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    return ids


class HFEngine:
    """A loaded transformers VLM behind the ``Engine`` protocol, with a batching scheduler."""

    def __init__(
        self,
        name: str,
        path: Path,
        model: Any,
        processor: Any,
        config: Any,
        settings: Settings,
        *,
        threads: int,
    ) -> None:
        self.path = path
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.config = config
        device = str(next(model.parameters()).device)
        dtype = next(model.parameters()).dtype
        text_config = config.get_text_config()
        self.context_length = int(getattr(text_config, "max_position_embeddings", 0) or self.tokenizer.model_max_length)
        self.prompter: ViewPrompter | ProcessorPrompter
        self.encoder: VisionEncoder | None = None
        self.family = families.match(config)
        if self.family is not None:
            self.prompter = ViewPrompter(self.family, processor, model, dtype, device)
            self.encoder = VisionEncoder(
                model, self.family.layout, settings.hf_vision_cache_bytes, self.family.tower_inputs
            )
        else:
            self.prompter = ProcessorPrompter(processor, config, dtype, device)
        architecture = (config.architectures or [type(model).__name__])[0]
        parameters = sum(p.numel() for p in model.parameters())
        fmt = reasoning_format(processor, settings.reasoning_parser)
        self.thinking = thinking_model(fmt, self.tokenizer)
        self._info = ModelInfo(
            id=name,
            architecture=architecture,
            context_length=self.context_length,
            created=int(time.time()),
            parameters=parameters,
            dtype=str(dtype).removeprefix("torch."),
            device=device,
            structured_output=True,
            reasoning=fmt,
        )
        eos_ids = _eos_ids(model, config, self.tokenizer)
        self.constraints = Constraints.for_hf(self.tokenizer, eos_ids)
        self.scheduler = BatchScheduler(
            model,
            self.tokenizer,
            eos_ids,
            settings.max_batch_size,
            device,
            threads=threads,
            encoder=self.encoder,
            keep=self.thinking.special_tags(self.tokenizer) if self.thinking is not None else frozenset(),
        )
        log.info(
            "loaded %s from %s: architecture=%s parameters=%.1fM dtype=%s device=%s context=%d threads=%d "
            "images=%s max_batch=%d",
            name,
            path,
            architecture,
            parameters / 1e6,
            self._info.dtype,
            device,
            self.context_length,
            threads,
            f"SPEC views of {self.family.view_size} px ({self.family.name})" if self.family else "checkpoint processor",
            settings.max_batch_size,
        )

    @property
    def info(self) -> ModelInfo:
        """Static facts about the model."""
        return self._info

    @property
    def pixel_spec(self) -> PixelSpec:
        """The family's views with the checkpoint's mean/std, else the decoded image."""
        return self.prompter.pixel_spec

    def tokenize(self, text: str) -> list[Token]:
        """Plain-text tokenization with the model's tokenizer (no template, no special tokens added)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [Token(int(i), self.tokenizer.decode([i])) for i in ids]

    def build_prompt(self, request: EngineRequest) -> Prompt:
        """The model inputs of ``request`` (what the scheduler prefills); public for token counting and tests."""
        switch = self.thinking.switch(request.thinking) if self.thinking is not None else None
        return self.prompter.build(request.conversation, request.images, request.output.tools, switch)

    async def generate(self, request: EngineRequest) -> AsyncIterator[Delta]:
        """Stream the answer; see ``Engine`` for the contract."""
        params = request.params
        check_params(params)
        prompt = await asyncio.to_thread(self.build_prompt, request)
        if prompt.length >= self.context_length:
            raise ContextLengthExceeded(prompt.length, self.context_length, max_tokens=params.max_tokens)
        room = self.context_length - prompt.length
        max_new = room if params.max_tokens is None else min(params.max_tokens, room)

        loop = asyncio.get_running_loop()
        results: asyncio.Queue[object] = asyncio.Queue()

        def emit(item: object) -> None:
            try:
                loop.call_soon_threadsafe(results.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                job.cancel()

        grammar = request.output.grammar
        constraints = None
        if grammar is not None:  # compiling a new grammar against the vocabulary takes a moment: off the loop
            constraints = await asyncio.to_thread(lambda: [self.constraints.start(grammar) for _ in range(params.n)])
        trackers = self.thinking.trackers(request.thinking, params.n) if self.thinking is not None else None
        job = Job(prompt, params, max_new, emit, constraints=constraints, thinking=trackers)
        self.scheduler.submit(job)
        try:
            # The prompt counts first, so streams can report them from their first chunk.
            yield Delta(usage=Usage(prompt_text_tokens=prompt.text_tokens, prompt_image_tokens=prompt.image_tokens))
            while True:
                item = await results.get()
                if item is DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, Delta)
                yield item
        finally:
            job.cancel()

    async def close(self) -> None:
        """Stop the scheduler thread and drop the model."""
        await asyncio.to_thread(self.scheduler.close)
