"""The judge is checked too: the SPEC §3 oracle against values worked out by hand from the rule."""

from __future__ import annotations

import pytest
from conformance_images import expected_image_tokens, tile_grid


@pytest.mark.parametrize(
    ("size", "grid"),
    [
        ((1920, 1080), (2, 1)),  # 16:9 → 2:1 is closest (|1.78-2| < |1.78-1.5|)
        ((800, 1200), (2, 3)),  # 2:3 exactly
        ((640, 480), (3, 2)),  # 4:3 → 3:2 (4:3 itself needs 12 tiles)
        ((1000, 500), (2, 1)),
        ((300, 300), (1, 1)),  # 1:1 ties 2:2; 90 000 px is not over half of 2×2 tiles
        ((1792, 1792), (2, 2)),  # 1:1 tie, and the image is over half of 2×2 tiles: the larger grid
        ((4000, 100), (6, 1)),  # very wide: the widest grid
    ],
)
def test_grid(size: tuple[int, int], grid: tuple[int, int]) -> None:
    assert tile_grid(*size) == grid


def test_tokens() -> None:
    assert expected_image_tokens(1920, 1080, "high") == 3 * 256
    assert expected_image_tokens(800, 1200, "high") == 7 * 256 == 1792  # the seed's per-image maximum
    assert expected_image_tokens(300, 300, "high") == 2 * 256  # one tile plus the thumbnail, always
    assert expected_image_tokens(1920, 1080, "low") == 256
    assert expected_image_tokens(448, 448, "auto") == 256  # both sides ≤ 448 → low
    assert expected_image_tokens(449, 100, "auto") == expected_image_tokens(449, 100, "high")
