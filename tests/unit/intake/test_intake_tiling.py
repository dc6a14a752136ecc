"""SPEC §3 tile plans and token counts, and agreement with transformers' GotOcr2 grid rule."""

from __future__ import annotations

import itertools

import pytest
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import (
    GotOcr2ImageProcessorPil,
    get_optimal_tiled_canvas,
)

from oculi.domain import Detail
from oculi.intake.tiling import choose_grid, plan_tiles
from oculi.intake.types import TilePlan

# (width, height) → expected (cols, rows) of the high-detail grid. Tokens = (cols·rows + 1)·256.
GRIDS = [
    ((1, 1), (1, 1)),
    ((448, 448), (1, 1)),
    ((449, 448), (1, 1)),  # (2,2) ties on ratio but the image is far below half of 2×2 tiles' area
    ((448, 449), (1, 1)),
    ((800, 200), (4, 1)),  # exact 4:1
    ((1, 4000), (1, 6)),  # extreme: the tallest grid allowed
    ((4000, 1), (6, 1)),
    ((1024, 768), (3, 2)),  # 4:3 → 3:2 is the closest ratio within 6 tiles
    ((1920, 1080), (2, 1)),  # 16:9 → 2:1 (diff .22) beats 3:2 (diff .28)
    ((4000, 3000), (3, 2)),
    ((3000, 4000), (2, 3)),
    ((633, 633), (1, 1)),  # 633² = 400 689 ≤ ½·448²·4 = 401 408: the 2×2 tie is not taken
    ((634, 634), (2, 2)),  # 634² = 401 956 > 401 408: the tie goes to the larger grid
]

# (width, height) → (effective detail under auto, image tokens under auto)
AUTO = [
    ((1, 1), Detail.LOW, 256),
    ((448, 448), Detail.LOW, 256),
    ((449, 448), Detail.HIGH, 512),  # a 1×1 grid still gets its thumbnail (SPEC §3)
    ((448, 449), Detail.HIGH, 512),
    ((800, 200), Detail.HIGH, 1280),
    ((1, 4000), Detail.HIGH, 1792),
    ((4000, 1), Detail.HIGH, 1792),
    ((1024, 768), Detail.HIGH, 1792),
    ((1920, 1080), Detail.HIGH, 768),
    ((4000, 3000), Detail.HIGH, 1792),
    ((3000, 4000), Detail.HIGH, 1792),
    ((633, 633), Detail.HIGH, 512),
    ((634, 634), Detail.HIGH, 1280),
]


@pytest.mark.parametrize(("size", "grid"), GRIDS, ids=[f"{w}x{h}" for (w, h), _ in GRIDS])
def test_high_detail_grid_and_tokens(size: tuple[int, int], grid: tuple[int, int]) -> None:
    plan = plan_tiles(*size, Detail.HIGH)
    assert (plan.cols, plan.rows) == grid
    assert plan.thumbnail
    assert plan.views == grid[0] * grid[1] + 1
    assert plan.image_tokens == (grid[0] * grid[1] + 1) * 256
    assert plan.image_tokens <= 7 * 256


@pytest.mark.parametrize(("size", "detail", "tokens"), AUTO, ids=[f"{w}x{h}" for (w, h), _, _ in AUTO])
def test_auto_detail(size: tuple[int, int], detail: Detail, tokens: int) -> None:
    plan = plan_tiles(*size, Detail.AUTO)
    assert plan.detail is detail
    assert plan.image_tokens == tokens


@pytest.mark.parametrize("size", [s for s, _ in GRIDS])
def test_low_detail_is_one_view(size: tuple[int, int]) -> None:
    assert plan_tiles(*size, Detail.LOW) == TilePlan(Detail.LOW, 1, 1, thumbnail=False)
    assert plan_tiles(*size, Detail.LOW).image_tokens == 256


def test_grid_matches_transformers_over_a_sweep() -> None:
    """Our grid equals GotOcr2's ``get_optimal_tiled_canvas`` (min 1, max 6 patches of 448) everywhere."""
    sides = sorted(
        {1, 2, 7, 100, 223, 224, 300, 447, 448, 449, 500, 633, 634, 672, 895, 896, 897, 1000}
        | set(range(150, 4100, 173))
    )
    checked = 0
    for width, height in itertools.product(sides, sides):
        expected = get_optimal_tiled_canvas((height, width), (448, 448), 1, 6)
        assert choose_grid(width, height) == tuple(expected), (width, height)
        checked += 1
    assert checked > 1500


def test_token_count_matches_transformers_processor() -> None:
    """Tokens = 256 × the processor's patch count, plus the thumbnail transformers skips on 1×1 grids."""
    processor = GotOcr2ImageProcessorPil(size={"height": 448, "width": 448}, crop_to_patches=True, max_patches=6)
    for width, height in [(449, 448), (800, 200), (1024, 768), (1920, 1080), (634, 634), (1, 4000), (3000, 4000)]:
        patches = processor.get_number_of_image_patches(height, width)
        plan = plan_tiles(width, height, Detail.HIGH)
        deliberate_extra = 1 if plan.tiles == 1 else 0  # SPEC §3: thumbnail always, also on a 1×1 grid
        assert plan.views == patches + deliberate_extra, (width, height)


def test_invalid_size_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        plan_tiles(0, 10, Detail.HIGH)
