"""``LiteEngine``: the ``Engine`` protocol on top of the bundled vision models.

generate: pick the images the question is about → analyse each (thread pool,
cached by content hash) → compose the answer → stream it piece by piece for
each of ``n`` choices, honouring ``stop`` and ``max_tokens``. Sampling
parameters other than those do not apply: the answer is deterministic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

from PIL import Image, ImageOps, UnidentifiedImageError

from oculi.domain import Conversation, Delta, FinishReason, ImagePart, Role, Usage
from oculi.engines.base import EngineRequest, ModelInfo, Token
from oculi.engines.lite import tokens
from oculi.engines.lite.analysis import Analyzer, ImageReport
from oculi.engines.lite.answer import compose
from oculi.errors import ContextLengthExceeded, ImageDecodeError, ImageTooLarge, InvalidRequest, public_reason
from oculi.intake.types import PixelSpec, PreparedImage
from oculi.settings import LITE_MODEL

#: No language model bounds the context; this bounds the work one request may ask for
#: (about 73 images at the 1792-token maximum each).
CONTEXT_LENGTH = 131_072
#: OCR needs the full image, not tiles; larger images are scaled down to this side by intake.
FULL_IMAGE_MAX_SIDE = 2048
CREATED = 1_767_225_600  # 2026-01-01: the built-in model has no release date of its own


class LiteEngine:
    """The default engine: OCR, an ImageNet classifier and a face detector, no language model."""

    def __init__(self, analyzer: Analyzer, workers: int | None = None) -> None:
        self.analyzer = analyzer
        # Four models per image run side by side; more threads let other requests' images proceed.
        self._pool = ThreadPoolExecutor(max_workers=workers or max(4, os.cpu_count() or 1), thread_name_prefix="lite")
        self._info = ModelInfo(
            id=LITE_MODEL,
            architecture="oculi-lite: PP-OCRv4 (OCR) + EfficientNet-Lite0 (ImageNet) + CenterFace (faces)",
            context_length=CONTEXT_LENGTH,
            created=CREATED,
            dtype="float32",
            device="cpu",
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def pixel_spec(self) -> PixelSpec:
        return PixelSpec(tiles=False, full_image_max_side=FULL_IMAGE_MAX_SIDE)

    def tokenize(self, text: str) -> list[Token]:
        return tokens.tokenize(text)

    async def generate(self, request: EngineRequest) -> AsyncIterator[Delta]:
        params = request.params
        if params.n < 1:
            raise InvalidRequest(f"n must be at least 1, got {params.n}.", param="n")
        if params.max_tokens is not None and params.max_tokens < 0:
            raise InvalidRequest(f"max_tokens must not be negative, got {params.max_tokens}.", param="max_tokens")
        loop = asyncio.get_running_loop()
        usage = Usage(
            prompt_text_tokens=await loop.run_in_executor(self._pool, tokens.count_prompt, request.conversation),
            prompt_image_tokens=sum(image.plan.image_tokens for image in request.images),
        )
        if usage.prompt_tokens > CONTEXT_LENGTH:  # max_tokens itself: the pipeline's one rule
            raise ContextLengthExceeded(usage.prompt_tokens, CONTEXT_LENGTH)

        yield Delta(usage=dataclasses.replace(usage))  # the prompt counts, before any token
        question, images = _question_and_images(request.conversation, request.images)
        reports: list[ImageReport] = []
        for prepared in images:
            image = prepared.image
            if image is None:
                image = await asyncio.get_running_loop().run_in_executor(self._pool, _decode, prepared)
            reports.append(await self.analyzer.analyze_async(image, f"{prepared.sha256}:{image.size}", self._pool))

        text, finish = _limit(compose(question, reports), params.stop, params.max_tokens)
        parts = tokens.pieces(text)
        for index in range(params.n):
            for piece in parts[:-1]:
                yield Delta(index=index, text=piece)
            usage.completion_tokens += len(parts)
            last = index == params.n - 1
            yield Delta(
                index=index,
                text=parts[-1] if parts else "",
                finish_reason=finish,
                usage=usage if last else None,
            )

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _question_and_images(
    conversation: Conversation, images: Sequence[PreparedImage]
) -> tuple[str, list[PreparedImage]]:
    """The last user message's text, and the images it is about.

    The images of that message when it has some; otherwise (a follow-up question
    in a continued conversation) every image of the conversation.
    """
    last = next((m for m in reversed(conversation.messages) if m.role is Role.USER), None)
    if last is None:
        return "", list(images)
    before = 0
    for message in conversation.messages:
        if message is last:
            break
        before += sum(isinstance(p, ImagePart) for p in message.parts)
    own = sum(isinstance(p, ImagePart) for p in last.parts)
    if own and before + own <= len(images):
        return last.text, list(images[before : before + own])
    return last.text, list(images)


def _decode(prepared: PreparedImage) -> Image.Image:
    """Decode ``prepared.data`` when intake handed no decoded image (EXIF applied, RGB, bounded size)."""
    try:
        with Image.open(BytesIO(prepared.data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(
            f"the image has too many pixels to decode safely: {public_reason(exc)}", index=prepared.index
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageDecodeError(
            f"the image bytes could not be decoded: {public_reason(exc)}", index=prepared.index
        ) from exc
    image.thumbnail((FULL_IMAGE_MAX_SIDE, FULL_IMAGE_MAX_SIDE), Image.Resampling.LANCZOS)
    return image


def _limit(text: str, stop: Sequence[str], max_tokens: int | None) -> tuple[str, FinishReason]:
    """Cut ``text`` at the first stop sequence, then at ``max_tokens`` pieces."""
    finish = FinishReason.STOP
    cuts = [text.find(s) for s in stop if s and s in text]
    if cuts:
        text = text[: min(cuts)]
    if max_tokens is not None:
        parts = tokens.pieces(text)
        if len(parts) > max_tokens:
            text = "".join(parts[:max_tokens])
            finish = FinishReason.LENGTH
    return text, finish
