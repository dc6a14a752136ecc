"""Pixel parity with transformers' GotOcr2ImageProcessorPil (crop_to_patches, max 6 patches of 448).

Exact path (``fast_image_decode=False``): our views equal the reference's up to
float32 rounding. We compute ``x·(1/(255·std)) − mean/std`` in float32, the
reference ``(x/255 − mean)/std`` in float64 then float32, so they differ by a
few float32 ulps of values within ±2.7 (measured max 4.8e-7): ``ATOL = 1e-5``,
still over 1000× smaller than one grey level (1/255/0.229 ≈ 0.017).

Deliberate difference (SPEC §3): on a 1×1 grid transformers returns just the
tile; we also append the thumbnail, which then is the same 448×448 view.

Fast path (the default: JPEG draft decode, torch's antialiased bicubic instead
of Pillow's): pixels change a little. The bound: mean |Δ| at most
``FAST_MAD_GREY`` = 1.5 grey levels of 255. The draft decode of big JPEGs is
most of it (grainy synthetic photos, a worst case: strong pixel-level noise);
torch's resize alone differs from Pillow's by rounding (≤ 0.15 on average).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from intake_helpers import data_url, encode, photo
from PIL import Image, ImageOps
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

from oculi.domain import Detail, ImagePart
from oculi.intake.pipeline import Intake
from oculi.intake.types import IMAGENET_MEAN, IMAGENET_STD, PixelSpec

ATOL = 1e-5
FAST_MAD_GREY = 1.5
SPEC = PixelSpec()


def mad_grey(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a − b| of normalised views, in grey levels of 255 (undoing each channel's std)."""
    to_grey = (np.asarray(IMAGENET_STD, dtype=np.float32) * 255).reshape(1, 3, 1, 1)
    return float((np.abs(a - b) * to_grey).mean())


def reference(data: bytes, detail: Detail) -> np.ndarray:
    """transformers' views for the bytes: PIL decode, EXIF transpose, GotOcr2 processor with ImageNet mean/std."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        # SPEC §2: transparency composited on white, as transformers' ``convert_to_rgb`` does. Done here
        # rather than left to the processor: the PIL processor of transformers 5.19 (the version vLLM
        # needs) drops alpha instead, so the reference would depend on the installed version.
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255))
        white.alpha_composite(rgba)
        image = white.convert("RGB")
    processor = GotOcr2ImageProcessorPil(
        size={"height": 448, "width": 448},
        crop_to_patches=detail is Detail.HIGH,
        min_patches=1,
        max_patches=6,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    )
    return np.asarray(processor(image, return_tensors="np")["pixel_values"], dtype=np.float32)


async def ours(intake: Intake, data: bytes, detail: Detail) -> np.ndarray:
    [prepared] = await intake.prepare([ImagePart(data_url(data), detail)], SPEC)
    assert prepared.pixel_values is not None
    return prepared.pixel_values


CASES = [
    # (width, height, format, detail, grid tiles)
    (1000, 700, "JPEG", Detail.HIGH, 6),  # 3×2
    (900, 240, "PNG", Detail.HIGH, 4),  # 4×1
    (300, 900, "JPEG", Detail.HIGH, 3),  # 1×3
    (320, 200, "PNG", Detail.LOW, 1),
    (1200, 900, "JPEG", Detail.LOW, 1),  # a real downscale to one view
    (2400, 1800, "JPEG", Detail.HIGH, 6),
]


@pytest.mark.parametrize(("width", "height", "fmt", "detail", "tiles"), CASES)
async def test_exact_path_equals_transformers(
    make_intake: Callable[..., Intake], width: int, height: int, fmt: str, detail: Detail, tiles: int
) -> None:
    data = encode(photo(width, height, seed=width), fmt)
    got = await ours(make_intake(fast_image_decode=False), data, detail)
    want = reference(data, detail)
    assert got.dtype == np.float32
    assert got.shape == want.shape == (tiles + (1 if detail is Detail.HIGH else 0), 3, 448, 448)
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


async def test_one_by_one_grid_adds_the_thumbnail(make_intake: Callable[..., Intake]) -> None:
    """The deliberate difference: transformers gives 1 view on a 1×1 grid, SPEC §3 gives tile + thumbnail."""
    data = encode(photo(500, 470, seed=9), "PNG")  # high detail, aspect ≈ 1 → 1×1 grid
    got = await ours(make_intake(fast_image_decode=False), data, Detail.HIGH)
    want = reference(data, Detail.HIGH)
    assert want.shape == (1, 3, 448, 448)
    assert got.shape == (2, 3, 448, 448)
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=ATOL)
    np.testing.assert_array_equal(got[1], got[0])  # the thumbnail of a 1×1 grid is the same view


@pytest.mark.parametrize(
    ("width", "height", "detail", "views"),
    [(2400, 1800, Detail.LOW, 1), (2400, 1800, Detail.HIGH, 7), (1200, 900, Detail.LOW, 1)],
)
async def test_fast_path_stays_close_to_exact(
    make_intake: Callable[..., Intake], width: int, height: int, detail: Detail, views: int
) -> None:
    """JPEG draft decoding and torch's resize: same layout, mean |Δ| ≤ FAST_MAD_GREY grey levels."""
    data = encode(photo(width, height, seed=5), "JPEG", quality=90)
    fast = await ours(make_intake(fast_image_decode=True), data, detail)
    exact = await ours(make_intake(fast_image_decode=False), data, detail)
    assert fast.shape == exact.shape == (views, 3, 448, 448)
    mad = mad_grey(fast, exact)
    assert mad <= FAST_MAD_GREY, f"fast path mean |Δ| = {mad:.3f} grey levels"
    assert not np.array_equal(fast, exact), "the fast path was not taken"


@pytest.mark.parametrize(("width", "height"), [(900, 600), (300, 900), (2000, 1500), (1, 700)])
async def test_fast_resize_is_pillows_filter(make_intake: Callable[..., Intake], width: int, height: int) -> None:
    """No draft decode (PNG): torch's antialiased bicubic differs from Pillow's by rounding only, up- and down."""
    data = encode(photo(width, height, seed=7), "PNG")
    fast = await ours(make_intake(fast_image_decode=True), data, Detail.HIGH)
    want = reference(data, Detail.HIGH)
    if want.shape[0] == 1:  # 1×1 grid: SPEC §3's thumbnail is the same view (see the test above)
        want = np.concatenate([want, want])
    assert fast.shape == want.shape
    assert mad_grey(fast, want) <= 0.25
    assert np.abs(fast - want).max() * 255 * max(IMAGENET_STD) <= 3  # no pixel off by more than rounding


async def test_fast_path_on_big_png_stays_close(make_intake: Callable[..., Intake]) -> None:
    data = encode(photo(2000, 1500, seed=6), "PNG")
    fast = await ours(make_intake(fast_image_decode=True), data, Detail.LOW)
    want = reference(data, Detail.LOW)
    assert mad_grey(fast, want) <= FAST_MAD_GREY


async def test_pixel_values_are_read_only_and_normalised(make_intake: Callable[..., Intake]) -> None:
    white = encode(Image.new("RGB", (100, 100), (255, 255, 255)), "PNG")
    pixels = await ours(make_intake(), white, Detail.LOW)
    assert not pixels.flags.writeable  # shared with the cache
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    np.testing.assert_allclose(pixels[0, :, 10, 10], expected, atol=ATOL)


async def test_exif_rotated_jpeg_matches_and_fast_path_stays_close(make_intake: Callable[..., Intake]) -> None:
    """Orientation 6 swaps the axes: the plan, the draft size and the views all follow the upright image."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(photo(2700, 900, seed=8), "JPEG", quality=90, exif=exif.tobytes())  # upright 900×2700
    exact = await ours(make_intake(fast_image_decode=False), data, Detail.HIGH)
    want = reference(data, Detail.HIGH)
    assert exact.shape == want.shape == (4, 3, 448, 448)  # 1×3 grid + thumbnail
    np.testing.assert_allclose(exact, want, rtol=0, atol=ATOL)
    fast = await ours(make_intake(fast_image_decode=True), data, Detail.HIGH)
    assert mad_grey(fast, exact) <= FAST_MAD_GREY


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
async def test_transparent_png_equals_transformers(make_intake: Callable[..., Intake], mode: str) -> None:
    """Transparency composited on white exactly as transformers' convert_to_rgb does, for every alpha value."""
    rng = np.random.default_rng(3)
    rgba = photo(700, 500, seed=3).convert("RGBA")
    rgba.putalpha(Image.fromarray(rng.integers(0, 256, (500, 700), dtype=np.uint8)))
    if mode == "P":  # palette with one fully transparent entry (tRNS), as GIF-style PNGs have
        image = rgba.convert("RGB").quantize(64)
        image.info["transparency"] = 0
        data = encode(image, "PNG", transparency=0)
    else:
        data = encode(rgba.convert(mode), "PNG")
    got = await ours(make_intake(fast_image_decode=False), data, Detail.HIGH)
    want = reference(data, Detail.HIGH)
    assert got.shape == want.shape == (7, 3, 448, 448)
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
