"""The llama.cpp engine: GGUF vision models (text model + mmproj) on the CPU.

Built on llama-cpp-python's low-level bindings of libllama and libmtmd (not on
its ``Llama`` class or chat handlers: those serve one sequence at a time and
under-report image tokens for some architectures). The pieces:

- ``files``: which GGUF pair a model spec names (file, dir, hub repo);
- ``projector``: which family of ``oculi.families`` the projector is, and
  whether mtmd takes its SPEC §3 views exactly (measured at load);
- ``prompt``: chat template + images → pieces; the families get SPEC §3's
  views as bitmaps of the family's view size (one per model image the
  family takes: ``Family.model_images``), other architectures mtmd's own
  preprocessing;
- ``worker``: the thread that owns the llama.cpp context:
  parallel sequences decoded in one batch, KV prefix reuse per slot, and a
  cache of encoded image embeddings;
- this module: the ``Engine`` protocol on top (async streaming, cancellation).

Usage is counted from what is fed to the model: image tokens are the sizes of
mtmd's image chunks, text tokens the ids evaluated around them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from oculi.domain import Delta
from oculi.engines.base import EngineRequest, ModelInfo, Token, check_params
from oculi.engines.llamacpp.files import read_gguf_metadata, resolve_model_files
from oculi.engines.llamacpp.native import Native
from oculi.engines.llamacpp.projector import exact, projector_family
from oculi.engines.llamacpp.prompt import ChatTemplate, Layout, Piece, build_pieces, marked_prompt
from oculi.engines.llamacpp.thinking import reasoning_format, thinking_model
from oculi.engines.llamacpp.worker import Job, Worker
from oculi.errors import InvalidRequest
from oculi.families import Family, Grouping
from oculi.intake.types import IMAGENET_MEAN, IMAGENET_STD, PixelSpec
from oculi.settings import Settings
from oculi.structured.matcher import Constraints

log = logging.getLogger(__name__)

#: Longest side handed to mtmd's own preprocessing (it resizes further itself).
FULL_IMAGE_MAX_SIDE = 2048


def is_available() -> bool:
    """Whether the optional ``llama-cpp-python`` extra is installed."""
    try:
        import llama_cpp.mtmd_cpp  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def handles(spec: str) -> bool:
    """Whether a model spec names GGUF files: a ``.gguf`` file, a directory of them, or a ``*-GGUF`` hub repo."""
    path = Path(spec).expanduser()
    if spec.lower().endswith(".gguf"):
        return True
    if path.is_dir():
        return any(path.glob("*.gguf"))
    return spec.partition(":")[0].lower().endswith("gguf")


def load(model: str, mmproj: str | None, settings: Settings) -> LlamaCppEngine:
    """Load a GGUF vision model (``model`` + its ``mmproj``) for serving; see the module docstring."""
    if not is_available():
        raise InvalidRequest(
            "Serving GGUF models needs the llama.cpp extra: run scripts/build_llamacpp.sh "
            "(or pip install 'oculi[llamacpp]').",
            param="model",
        )
    text_path, mmproj_path = resolve_model_files(model, mmproj, settings)
    return LlamaCppEngine(_model_id(model, text_path), text_path, mmproj_path, settings)


def _layout(family: Family | None) -> tuple[Layout, PixelSpec]:
    """How images reach mtmd: a family's views (uint8, mtmd normalises them itself), or the decoded image."""
    if family is None:
        return Layout.MTMD, PixelSpec(tiles=False, full_image_max_side=FULL_IMAGE_MAX_SIDE)
    spec = family.pixel_spec(IMAGENET_MEAN, IMAGENET_STD, normalise=False)
    return (Layout.TILES if family.grouping is Grouping.STACK else Layout.VIEWS), spec


def _model_id(spec: str, text_path: Path) -> str:
    if Path(spec).expanduser().exists():
        return text_path.stem
    return spec


class LlamaCppEngine:
    """An ``Engine`` serving one GGUF vision model through llama.cpp."""

    def __init__(self, model_id: str, text_path: Path, mmproj_path: Path, settings: Settings) -> None:
        # A projector of one modality names it ``clip.projector_type``; a multimodal one (Gemma 4's) per modality.
        projector = read_gguf_metadata(mmproj_path, {"clip.projector_type", "clip.vision.projector_type"})
        self.projector = str(
            projector.get("clip.projector_type") or projector.get("clip.vision.projector_type") or "unknown"
        )
        native = Native(
            text_path,
            mmproj_path,
            n_ctx_seq=settings.llamacpp_context,
            n_seq=max(1, settings.max_batch_size),
            n_threads=settings.threads or os.cpu_count() or 1,
            embed_cache_bytes=settings.llamacpp_embed_cache_bytes,
            verbose=settings.log_level.lower() == "debug",
        )
        self._native = native
        family = projector_family(self.projector)
        #: Why a family's views are not taken exactly (None when they are, or for other architectures).
        self.inexact_reason = exact(family, native.image_chunks) if family is not None else None
        if self.inexact_reason is not None:
            log.warning("%s: SPEC §3 views are not exact on llama.cpp (%s)", model_id, self.inexact_reason)
        #: The family served exactly (its views as bitmaps), or None (mtmd's own preprocessing).
        self.family: Family | None = family if self.inexact_reason is None else None
        self.layout, self._spec = _layout(self.family)
        self._template = ChatTemplate(
            native.chat_template(), native.token_text(native.bos()), native.token_text(native.eos())
        )
        desc, n_params = native.describe()
        self._info = ModelInfo(
            id=model_id,
            architecture=f"{self.projector}+{native.meta('general.architecture') or 'unknown'}",
            context_length=native.n_ctx_seq,
            created=int(text_path.stat().st_mtime),
            owned_by="oculi",
            parameters=n_params,
            dtype=desc.rsplit(" ", 1)[-1] if desc else None,
            device="cpu",
            structured_output=True,
            reasoning=reasoning_format(self._template, settings.reasoning_parser),
        )
        self.thinking = thinking_model(self._info.reasoning, native)
        self.constraints = Constraints.for_llamacpp(native.vocab)
        self._worker = Worker(native, self.thinking.tags() if self.thinking is not None else frozenset())

    @property
    def info(self) -> ModelInfo:
        """Static facts about the model."""
        return self._info

    @property
    def pixel_spec(self) -> PixelSpec:
        """The family's SPEC §3 views as uint8 pixels; the decoded image for mtmd's own preprocessing otherwise."""
        return self._spec

    @property
    def worker(self) -> Worker:
        """The worker thread and its slots (benchmarks and tests read its cache counters)."""
        return self._worker

    def tokenize(self, text: str) -> list[Token]:
        """Tokenize plain text with the model's tokenizer (no template, special tokens as text)."""
        native = self._native
        return [
            Token(i, native.piece(i).decode("utf-8", errors="replace"))
            for i in native.tokenize(text, add_special=False, parse_special=False)
        ]

    def _pieces(self, request: EngineRequest) -> list[Piece]:
        native = self._native
        return build_pieces(
            self._template,
            request.conversation,
            request.images,
            self.layout,
            self._spec,
            lambda text, first: native.tokenize(text, add_special=first and native.add_bos(), parse_special=True),
            request.output.tools,
            self.family,
            self.thinking.switch(request.thinking) if self.thinking is not None else None,
        )

    def marked_prompt(self, request: EngineRequest) -> tuple[str, list[np.ndarray]]:
        """A family's prompt as llama.cpp's own tools take it: text with mtmd's media marker, and the bitmaps."""
        if self.layout is not Layout.VIEWS:
            raise ValueError("only the VIEWS layout has mtmd's own form (TILES writes its own wrappers)")
        assert self.family is not None
        return marked_prompt(
            self._template, request.conversation, request.images, self._spec, self.family, request.output.tools
        )

    async def generate(self, request: EngineRequest) -> AsyncIterator[Delta]:
        """Stream the answer; closing the iterator cancels the generation and frees its slot.

        The first delta carries the prompt usage (image tokens from mtmd's chunks,
        cached tokens from KV reuse); the last one the final usage.
        """
        params = request.params
        check_params(params)
        pieces = await asyncio.to_thread(self._pieces, request)
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[Delta | BaseException | None] = asyncio.Queue()

        def emit(item: Delta | BaseException | None) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, item)

        grammar = request.output.grammar
        constraints = None
        if grammar is not None:  # compiling a new grammar against the vocabulary takes a moment: off the loop
            constraints = await asyncio.to_thread(lambda: [self.constraints.start(grammar) for _ in range(params.n)])
        trackers = self.thinking.trackers(request.thinking, params.n) if self.thinking is not None else None
        job = Job(pieces, params, emit, constraints=constraints, thinking=trackers)
        self._worker.submit(job)
        try:
            while True:
                item = await inbox.get()
                if item is None:  # the worker's end-of-stream mark, after the final usage
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancelled.set()
            self._worker.wake()

    async def close(self) -> None:
        """Stop the worker thread and free the model."""
        await asyncio.to_thread(self._worker.close)
