"""SPEC §3 image tokens written from the SPEC's words alone, independently of ``oculi.intake``.

The one oracle every test folder judges oculi's usage by (engines, gRPC,
conformance): InternVL's dynamic-tiling rule, 448 px tiles, 256 tokens a
tile, a thumbnail always added on ``high``; ``low`` is one 256-token view.
"""

from __future__ import annotations

import math

TILE = 448
TOKENS_PER_TILE = 256
MAX_TILES = 6


def tile_grid(width: int, height: int, max_tiles: int = MAX_TILES) -> tuple[int, int]:
    """``(cols, rows)`` chosen by InternVL's dynamic-tiling rule for a ``width``×``height`` image."""
    aspect = width / height
    grids = sorted(
        {(c, r) for c in range(1, max_tiles + 1) for r in range(1, max_tiles + 1) if c * r <= max_tiles},
        key=lambda g: g[0] * g[1],
    )
    best, best_diff = (1, 1), math.inf
    for cols, rows in grids:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and width * height > 0.5 * TILE * TILE * cols * rows:
            best = (cols, rows)
    return best


def expected_image_tokens(width: int, height: int, detail: str = "auto") -> int:
    """Image tokens SPEC §3 charges for one image: ``low`` 256, ``high`` (tiles + 1) · 256."""
    if detail == "auto":
        detail = "low" if width <= TILE and height <= TILE else "high"
    if detail == "low":
        return TOKENS_PER_TILE
    cols, rows = tile_grid(width, height)
    return (cols * rows + 1) * TOKENS_PER_TILE
