"""What one image costs in memory once decoded, known from its header and tile plan before decoding.

Intake tells the admission budget (``service/admission.py``) this number per
image before it decodes the pixels; it lives here, beside the pixels it
describes, so intake does not reach up into the service layer.
"""

from __future__ import annotations

from oculi.domain import ImageHeader
from oculi.intake.types import PixelSpec, TilePlan

#: Decoding holds up to this many bytes a pixel (16-bit greyscale PNGs pass through float64).
DECODE_BYTES_PER_PIXEL = 8
#: Each view (tile or thumbnail) is 3 float32 channels, held twice while the request runs: intake's
#: array and the engine's batched tensor (bench/stress.py: charging one copy let 64 photo requests
#: in at once and peak RSS passed the budget by 500 MB).
VIEW_BYTES_PER_PIXEL = 24


def decoded_cost(width: int, height: int, views: int, view_side: int, full_image_pixels: int) -> int:
    """Bytes one image takes while decoded: the decode itself, its views as float32, a kept full image."""
    return (
        width * height * DECODE_BYTES_PER_PIXEL
        + views * view_side * view_side * VIEW_BYTES_PER_PIXEL
        + full_image_pixels * 3
    )


def fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    """``width × height`` scaled down (never up) so the longer side is at most ``max_side``."""
    longer = max(width, height)
    if longer <= max_side:
        return width, height
    scale = max_side / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_cost(header: ImageHeader, tile_plan: TilePlan, spec: PixelSpec) -> int:
    """What decoding and rendering this image for ``spec`` takes at most (0 when ``spec`` wants no pixels)."""
    if not spec.tiles and spec.full_image_max_side is None:
        return 0
    full = 0
    if spec.full_image_max_side is not None:
        w, h = fit(header.width, header.height, spec.full_image_max_side)
        full = w * h
    views = tile_plan.views if spec.tiles else 0
    return decoded_cost(header.width, header.height, views, spec.view_size, full)
