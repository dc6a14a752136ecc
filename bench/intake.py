"""Is oculi's image intake faster than the reference path? (issue 2)

Generates its own images (12 MP, 3 MP and 1 MP photo-like JPEGs, a PNG
screenshot with text, a PNG with alpha) and times, for ``low`` and ``high``
detail, bytes → normalised tiles tensor:

- reference: PIL decode + transformers ``GotOcr2ImageProcessorPil``
  (crop_to_patches for high, max 6 patches of 448, ImageNet mean/std);
- oculi: ``Intake.prepare`` (cache disabled) with the fast path on (default:
  JPEG draft decode + torch's antialiased bicubic) and, for comparison, off (exact).

Prints one line per case: medians in ms and reference/oculi ratios.
Targets: ≥ 3× on the 12 MP JPEG at low, ≥ 1.5× at high, never slower.

    .venv/bin/python bench/intake.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import statistics
import time
from collections.abc import Awaitable, Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

from oculi.domain import Detail, ImagePart
from oculi.intake import Intake, PixelSpec
from oculi.intake.types import IMAGENET_MEAN, IMAGENET_STD
from oculi.settings import Settings


def photo(width: int, height: int, seed: int) -> Image.Image:
    """Smooth colour fields plus sensor-like grain: compresses like a photo, not like a flat test card."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 60 + 2, width // 60 + 2, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-6, 7, (height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8))


def screenshot(width: int, height: int) -> Image.Image:
    """A white page of dark text lines with a coloured title bar."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 48), fill=(40, 90, 160))
    font = ImageFont.load_default(size=18)
    words = [
        "intake",
        "decode",
        "tile",
        "plan",
        "thumbnail",
        "token",
        "grid",
        "fetch",
        "redirect",
        "cache",
        "pixel",
        "normalise",
    ]
    rng = np.random.default_rng(1)
    for y in range(64, height - 24, 26):
        line = " ".join(rng.choice(words, size=18))
        draw.text((24, y), line, fill=(20, 20, 20), font=font)
    return image


def with_alpha(width: int, height: int) -> Image.Image:
    """A photo whose alpha channel fades out and has a transparent hole."""
    rgba = photo(width, height, seed=7).convert("RGBA")
    alpha = np.tile(np.linspace(255, 0, width, dtype=np.uint8), (height, 1))
    alpha[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = 0
    rgba.putalpha(Image.fromarray(alpha))
    return rgba


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def cases() -> list[tuple[str, bytes]]:
    return [
        ("12MP JPEG 4000x3000", encode(photo(4000, 3000, 1), "JPEG", quality=90)),
        ("3MP JPEG 2000x1500", encode(photo(2000, 1500, 2), "JPEG", quality=90)),
        ("1MP JPEG 1152x864", encode(photo(1152, 864, 3), "JPEG", quality=90)),
        ("PNG screenshot 1920x1080", encode(screenshot(1920, 1080), "PNG")),
        ("PNG alpha 1024x768", encode(with_alpha(1024, 768), "PNG")),
    ]


async def medians_ms(fns: list[Callable[[], Awaitable[object]]], repeat: int) -> list[float]:
    """Median wall time of each function, run interleaved so load changes hit all of them alike."""
    for fn in fns:
        await fn()  # warm-up: thread pool, lazy imports
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, bucket in zip(fns, times, strict=True):
            start = time.perf_counter()
            await fn()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) * 1000 for bucket in times]


def reference_processor(detail: Detail) -> GotOcr2ImageProcessorPil:
    return GotOcr2ImageProcessorPil(
        size={"height": 448, "width": 448},
        crop_to_patches=detail is Detail.HIGH,
        min_patches=1,
        max_patches=6,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    )


async def main(repeat: int) -> None:
    fast = Intake(Settings(image_cache_bytes=0, decode_workers=1))
    exact = Intake(Settings(image_cache_bytes=0, decode_workers=1, fast_image_decode=False))
    spec = PixelSpec()
    header = (
        f"{'case':<26} {'detail':<6} {'views':>5} {'reference ms':>13} {'oculi ms':>9} {'speedup':>8}"
        f" {'exact ms':>9} {'exact speedup':>14}"
    )
    print(header)
    print("-" * len(header))
    try:
        for name, data in cases():
            sha256 = hashlib.sha256(data).hexdigest()

            async def load(_sha: str, data: bytes = data) -> bytes:
                return data

            for detail in (Detail.LOW, Detail.HIGH):
                processor = reference_processor(detail)
                part = ImagePart.stored(sha256, detail)
                views = 0

                async def ref(data: bytes = data, processor: GotOcr2ImageProcessorPil = processor) -> object:
                    return processor(Image.open(io.BytesIO(data)), return_tensors="np")["pixel_values"]

                async def ours(intake: Intake, part: ImagePart = part) -> object:
                    nonlocal views
                    [prepared] = await intake.prepare([part], spec, load_stored=load)
                    assert prepared.pixel_values is not None
                    views = prepared.pixel_values.shape[0]
                    return prepared.pixel_values

                ref_ms, fast_ms, exact_ms = await medians_ms([ref, lambda: ours(fast), lambda: ours(exact)], repeat)
                print(
                    f"{name:<26} {detail.value:<6} {views:>5} {ref_ms:>13.1f} {fast_ms:>9.1f} "
                    f"{ref_ms / fast_ms:>7.2f}x {exact_ms:>9.1f} {ref_ms / exact_ms:>13.2f}x",
                    flush=True,
                )
    finally:
        await fast.aclose()
        await exact.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (median reported)")
    asyncio.run(main(parser.parse_args().repeat))
