"""Decoded pixels for a tile plan: the decode (as small as the views allow) and the views a ``PixelSpec`` asks for.

Runs in intake's thread pool. Split from ``pipeline.py`` so the content
policy (``detail.py``) can look at the decoded image between the two steps:
one decode serves the decision and the views.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from oculi.domain import ImageHeader
from oculi.intake.cache import CachedPixels
from oculi.intake.cost import fit
from oculi.intake.decode import decode_rgb
from oculi.intake.detail import ContentVerdict, measure
from oculi.intake.tiling import Resizer, render_grid, render_views, target_sizes
from oculi.intake.types import PixelSpec, TilePlan, ViewLayout


def decode_for(
    data: bytes,
    header: ImageHeader,
    tile_plan: TilePlan,
    spec: PixelSpec,
    *,
    fast: bool,
    max_pixels: int,
    views: bool = False,
) -> Image.Image:
    """The upright RGB image, decoded to at least what ``spec`` needs (``fast``: JPEG DCT-downscaled).

    ``views``: at least ``tile_plan``'s views' size even when ``spec`` wants no
    tiles (what the content policy analyses, whatever the engine takes).
    """
    sizes = target_sizes(tile_plan, spec) if spec.tiles or views else []
    if spec.full_image_max_side is not None:
        sizes.append(fit(header.width, header.height, spec.full_image_max_side))
    min_size = (max(w for w, _ in sizes), max(h for _, h in sizes)) if fast and sizes else None
    return decode_rgb(data, header, min_size=min_size, max_pixels=max_pixels)


def render_pixels(
    rgb: Image.Image,
    header: ImageHeader,
    tile_plan: TilePlan,
    spec: PixelSpec,
    *,
    fast: bool,
    array: np.ndarray | None = None,
) -> CachedPixels:
    """The views (and full image) ``spec`` asks for, from the decoded ``rgb``; ``array``: its pixels, if copied."""
    resize = Resizer(rgb, fast=fast, pixels=array) if spec.tiles else None
    pixel_values = None
    model_images = None
    if spec.tiles and spec.layout is ViewLayout.GRID:
        model_images = render_grid(rgb, tile_plan, spec, fast=fast, resize=resize)
    elif spec.tiles:
        pixel_values = render_views(rgb, tile_plan, spec, fast=fast, resize=resize)
    for out in (pixel_values, *(model_images or ())):
        if out is not None:
            out.flags.writeable = False  # shared by every request that hits the cache
    image = None
    if spec.full_image_max_side is not None:
        size = fit(header.width, header.height, spec.full_image_max_side)
        if rgb.size == size:
            image = rgb
        else:
            resize = resize or Resizer(rgb, fast=fast, pixels=array)
            image = Image.fromarray(resize(size).numpy())
    return CachedPixels(pixel_values, image, model_images)


def decide_and_render(
    data: bytes,
    header: ImageHeader,
    high: TilePlan,
    low: TilePlan,
    spec: PixelSpec,
    *,
    fast: bool,
    max_pixels: int,
    render: bool,
) -> tuple[ContentVerdict, TilePlan, CachedPixels | None]:
    """The ``content`` policy on one decode: decode as for ``high``, measure, render the plan chosen.

    Returns the verdict, the plan it chose (``high`` or ``low``) and, when
    ``render`` and ``spec`` wants pixels, that plan's pixels.
    """
    rgb = decode_for(data, header, high, spec, fast=fast, max_pixels=max_pixels, views=True)
    array = np.array(rgb)  # the copy the fast resizer makes anyway: shared with it
    verdict = measure(array)
    tile_plan = high if verdict.needs_high else low
    if not render or (not spec.tiles and spec.full_image_max_side is None):
        return verdict, tile_plan, None
    return verdict, tile_plan, render_pixels(rgb, header, tile_plan, spec, fast=fast, array=array)
