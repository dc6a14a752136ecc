"""SPEC §3: which views an image becomes (the tile plan) and their pixels.

``plan_tiles`` is pure arithmetic on the image size, so token counting never
needs pixels. ``render_views`` turns an RGB image into the stacked, normalised
float32 views InternVL-family models take: the grid tiles row by row, then the
thumbnail (always, also on a 1×1 grid: SPEC §3 deliberately differs from
transformers' ``crop_to_patches`` here, which drops the thumbnail then).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from oculi.domain import Detail
from oculi.intake.types import MAX_TILES, TILE_SIZE, PixelSpec, TilePlan

# Pillow's reducing_gap for the fast path: box-reduce while the image stays ≥ 2× the target.
FAST_REDUCING_GAP = 2.0


@lru_cache(maxsize=16)
def _grids(max_tiles: int) -> tuple[tuple[int, int], ...]:
    """Every (cols, rows) with 1 ≤ cols·rows ≤ max_tiles, fewest tiles first.

    The order matters for ties: the scan keeps the first grid of a given ratio
    distance and only a later (larger) one may replace it.
    """
    grids = [(c, r) for c in range(1, max_tiles + 1) for r in range(1, max_tiles + 1) if c * r <= max_tiles]
    return tuple(sorted(grids, key=lambda g: g[0] * g[1]))


def choose_grid(width: int, height: int, *, tile_size: int = TILE_SIZE, max_tiles: int = MAX_TILES) -> tuple[int, int]:
    """InternVL's dynamic-tiling rule: the (cols, rows) grid closest to the image's aspect ratio.

    On a tie, the larger grid wins while the image area exceeds half of that
    grid's pixel area (so a small image is not blown up into many tiles).
    """
    aspect = width / height
    area = width * height
    best, best_diff = (1, 1), float("inf")
    for cols, rows in _grids(max_tiles):
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and area > 0.5 * tile_size * tile_size * cols * rows:
            best = (cols, rows)
    return best


def effective_detail(width: int, height: int, detail: Detail, *, tile_size: int = TILE_SIZE) -> Detail:
    """Resolve ``auto``: ``low`` when both sides fit one tile, else ``high``."""
    if detail is Detail.AUTO:
        return Detail.LOW if width <= tile_size and height <= tile_size else Detail.HIGH
    return detail


def plan_tiles(
    width: int, height: int, detail: Detail, *, tile_size: int = TILE_SIZE, max_tiles: int = MAX_TILES
) -> TilePlan:
    """The SPEC §3 plan for an image of ``width × height`` (after EXIF orientation).

    ``low`` is one view with no thumbnail (256 tokens); ``high`` is a grid plus
    the thumbnail, ``(cols·rows + 1) · 256`` tokens.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    resolved = effective_detail(width, height, detail, tile_size=tile_size)
    if resolved is Detail.LOW:
        return TilePlan(Detail.LOW, 1, 1, thumbnail=False)
    cols, rows = choose_grid(width, height, tile_size=tile_size, max_tiles=max_tiles)
    return TilePlan(Detail.HIGH, cols, rows, thumbnail=True)


def target_sizes(plan: TilePlan, spec: PixelSpec) -> list[tuple[int, int]]:
    """The (width, height) sizes the views are resized to: what decoding must at least deliver."""
    s = spec.tile_size
    if plan.detail is Detail.LOW:
        return [(s, s)]
    return [(s * plan.cols, s * plan.rows), (s, s)]


def render_views(image: Image.Image, plan: TilePlan, spec: PixelSpec, *, fast: bool = False) -> np.ndarray:
    """Resize, cut and normalise ``image`` (RGB) into float32 ``[views, 3, S, S]``.

    Exact (default): every view is a bicubic resize of ``image``, like the
    reference processor. ``fast``: Pillow's ``reducing_gap=2`` (box-reduce by
    an integer factor while the image stays ≥ 2× the target, then bicubic)
    and the thumbnail resized from the already-resized grid instead of the
    full image. Measured here: each within ~0.2–0.5 grey levels mean of the
    exact view, and the thumbnail 2–3× cheaper. The views are gathered as one
    uint8 stack and normalised in one vectorised pass.
    """
    s = spec.tile_size
    gap = FAST_REDUCING_GAP if fast else None
    stack = np.empty((plan.views, s, s, 3), dtype=np.uint8)
    if plan.detail is Detail.LOW:
        stack[0] = np.asarray(image.resize((s, s), Image.Resampling.BICUBIC, reducing_gap=gap))
        return normalise(stack, spec)
    grid_image = image.resize((s * plan.cols, s * plan.rows), Image.Resampling.BICUBIC, reducing_gap=gap)
    grid = np.asarray(grid_image)
    # [rows·S, cols·S, 3] → [rows, cols, S, S, 3]: row-major tile order, no Python loop.
    stack[: plan.tiles] = grid.reshape(plan.rows, s, plan.cols, s, 3).swapaxes(1, 2).reshape(plan.tiles, s, s, 3)
    if plan.thumbnail:
        if plan.tiles == 1:
            stack[-1] = stack[0]  # the 1×1 grid tile already is the whole image at S×S
        else:
            source = grid_image if fast else image
            stack[-1] = np.asarray(source.resize((s, s), Image.Resampling.BICUBIC, reducing_gap=gap))
    return normalise(stack, spec)


def normalise(stack: np.ndarray, spec: PixelSpec) -> np.ndarray:
    """uint8 ``[n, S, S, 3]`` → float32 ``[n, 3, S, S]`` as ``(x/255 − mean)/std``, in one pass."""
    std = np.asarray(spec.std, dtype=np.float64)
    scale = (1.0 / (255.0 * std)).astype(np.float32).reshape(1, 3, 1, 1)
    bias = (-np.asarray(spec.mean, dtype=np.float64) / std).astype(np.float32).reshape(1, 3, 1, 1)
    out = np.empty((stack.shape[0], 3, stack.shape[1], stack.shape[2]), dtype=np.float32)
    np.multiply(stack.transpose(0, 3, 1, 2), scale, out=out, casting="unsafe")
    out += bias
    return out
