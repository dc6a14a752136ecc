"""Model families whose vision encoder turns a fixed pixel square into 256 tokens (SPEC §3).

The one place that says, per family, how SPEC §3's views reach the model:

- ``view_size``: the side in pixels of one 256-token view — InternVL and
  Qwen2.5-VL 448, Qwen3-VL 512, Gemma 3 896. The grid is always chosen by
  SPEC §3's 448-based rule (``intake.tiling.plan_tiles``); it is *rendered* at
  the view size, so every family costs exactly ``(tiles + 1) · 256`` tokens.
- ``layout``: ``TILES`` — every view is its own image (InternVL, Gemma 3);
  ``GRID`` — the grid is one image of ``cols·S × rows·S`` (the model's own
  spatial positions see the whole picture) and the thumbnail a second one
  (Qwen2.5-VL, Qwen3-VL).

Intake renders views from the ``PixelSpec`` a family gives; every engine,
``/v1/image-tokens``, ``oculi tokens`` and the playground's tile drawing
read the view size from here (through the engine's ``pixel_spec``). A
checkpoint is exact only when its own geometry gives 256 tokens at the view
size (``match`` checks it); anything else keeps its processor and reports
what it consumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oculi.intake.types import TOKENS_PER_TILE, PixelSpec, ViewLayout


@dataclass(frozen=True)
class Family:
    """How one model family takes SPEC §3's views (see the module docstring)."""

    name: str
    model_types: frozenset[str]
    view_size: int
    layout: ViewLayout

    def pixel_spec(
        self, mean: tuple[float, float, float], std: tuple[float, float, float], *, normalise: bool = True
    ) -> PixelSpec:
        """What intake renders for this family: views of ``view_size`` in its layout.

        ``normalise``: float32 ``(x/255 − mean)/std`` channels-first (fed to
        the model as they are), or uint8 RGB (for a processor that normalises
        itself, e.g. vLLM's; the sizes are already its own, so it only
        rescales and normalises them).
        """
        return PixelSpec(
            tiles=True, view_size=self.view_size, layout=self.layout, mean=mean, std=std, normalise=normalise
        )

    def tokens_per_view(self, config: Any) -> int:
        """Tokens one ``view_size`` square becomes in this checkpoint (256 when its geometry is the family's)."""
        vision = config.vision_config
        if self.layout is ViewLayout.GRID:  # Qwen: patches merged merge×merge into one token
            unit = _side(vision.patch_size) * int(vision.spatial_merge_size)
            return (self.view_size // unit) ** 2 if self.view_size % unit == 0 else -1
        if self.name == "gemma3":  # SigLIP at image_size, pooled to mm_tokens_per_image
            return int(config.mm_tokens_per_image) if _side(vision.image_size) == self.view_size else -1
        # InternVL: (image_size / patch)² patches, pixel-shuffled by downsample_ratio.
        if _side(vision.image_size) != self.view_size:
            return -1
        return int((self.view_size // _side(vision.patch_size)) ** 2 * config.downsample_ratio**2)


INTERNVL = Family("internvl", frozenset({"internvl"}), 448, ViewLayout.TILES)
QWEN2_5_VL = Family("qwen2_5_vl", frozenset({"qwen2_vl", "qwen2_5_vl"}), 448, ViewLayout.GRID)
QWEN3_VL = Family("qwen3_vl", frozenset({"qwen3_vl", "qwen3_vl_moe"}), 512, ViewLayout.GRID)
GEMMA3 = Family("gemma3", frozenset({"gemma3"}), 896, ViewLayout.TILES)

FAMILIES: tuple[Family, ...] = (INTERNVL, QWEN2_5_VL, QWEN3_VL, GEMMA3)


def family_of(model_type: str) -> Family | None:
    """The family of a ``config.model_type``, or None for families SPEC §3 does not map onto."""
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    return None


def match(config: Any) -> Family | None:
    """The family of ``config`` when the checkpoint's geometry makes it exact (256 tokens a view), else None."""
    family = family_of(str(config.model_type))
    if family is None:
        return None
    try:
        exact = family.tokens_per_view(config) == TOKENS_PER_TILE
    except (AttributeError, TypeError, ValueError):
        exact = False
    return family if exact else None


def _side(value: Any) -> int:
    return int(value[0] if isinstance(value, (list, tuple)) else value)
