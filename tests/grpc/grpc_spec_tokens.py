"""SPEC §3 image tokens, computed here from the SPEC's words (independently of ``oculi.intake``)."""

from __future__ import annotations

TILE = 448
TOKENS_PER_VIEW = 256
MAX_TILES = 6


def expected_image_tokens(width: int, height: int, detail: str = "auto") -> int:
    """Tokens SPEC §3 assigns to a ``width``×``height`` image at ``detail``."""
    if detail == "auto":
        detail = "low" if width <= TILE and height <= TILE else "high"
    if detail == "low":
        return TOKENS_PER_VIEW
    aspect = width / height
    grids = sorted(
        {(c, r) for c in range(1, MAX_TILES + 1) for r in range(1, MAX_TILES + 1) if c * r <= MAX_TILES},
        key=lambda grid: grid[0] * grid[1],
    )
    best, best_diff = (1, 1), float("inf")
    for cols, rows in grids:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and width * height > 0.5 * TILE * TILE * cols * rows:
            best = (cols, rows)
    return (best[0] * best[1] + 1) * TOKENS_PER_VIEW
