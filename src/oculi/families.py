"""Model families whose vision encoder turns a fixed pixel square into 256 tokens (SPEC §3).

A family is ONE entry here (a ``Family``); every engine reads what it needs
from the entry and none compares families by name. Adding a family is an
entry plus its tiny test checkpoint (``oculi.testing``).

What an entry says:

- ``view_size``: the side in pixels of one 256-token view — InternVL and
  Qwen2.5-VL and GLM-4.1V / 4.5V 448, Qwen3-VL and Qwen3.5 512, Gemma 4 768, Gemma 3 896. The grid is always
  chosen by SPEC §3's 448-based rule (``intake.tiling.plan_tiles``); it is
  *rendered* at the view size, so every family costs exactly
  ``(tiles + 1) · 256`` tokens.
- ``grouping``: how one request image's views become the images the model
  takes (``model_images``): ``STACK`` — all views are one model image
  (InternVL's processor stacks them behind one placeholder); ``EACH_VIEW`` —
  every view is its own model image (Gemma 3, Gemma 4); ``GRID`` — the grid is one
  image of ``cols·S × rows·S`` (the model's own spatial positions see the
  whole picture) and the thumbnail a second one (Qwen, GLM-V). ``layout`` follows:
  what intake renders (``ViewLayout``).
- ``geometry``: the check that a checkpoint takes the view at 256 tokens
  (``tokens_per_view``); ``match`` serves a checkpoint as its family only
  when it does, anything else keeps its processor and reports what it
  consumes.
- ``image_text``: how the family's processor writes one model image in the
  prompt (the template's placeholder, the wrapper, the image token, the
  newlines around), which the transformers engine expands and the llama.cpp
  engine reproduces around mtmd's own wrapper.
- ``mrope``: text positions are multimodal (3-D rotary, computed from the
  image grids); ``bidirectional_images``: image tokens attend to each other
  both ways (the model reads ``token_type_ids``).
- ``projectors``: llama.cpp's ``clip.projector_type`` names of the family's
  mmproj; ``pins``: the processor options that keep SPEC §3's images at their
  size in vLLM's processor (``vllm_processor_kwargs``).

Intake renders views from the ``PixelSpec`` a family gives; ``/v1/image-tokens``,
``oculi tokens`` and the playground's tile drawing read the view size from
here (through the engine's ``pixel_spec``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from oculi.intake.types import MAX_TILES, TOKENS_PER_TILE, PixelSpec, TilePlan, ViewLayout


class Grouping(Enum):
    """How one request image's SPEC §3 views become the images the model takes (module docstring)."""

    STACK = "stack"
    EACH_VIEW = "each_view"
    GRID = "grid"


@dataclass(frozen=True)
class ImageText:
    """How the family's processor writes one model image of ``n`` image tokens in the prompt.

    The chat template writes ``placeholder`` once per model image; the
    processor replaces it with ``around[0] + open + token · n + close + around[1]``.
    llama.cpp's mtmd writes ``open`` / ``close`` itself (its own wrapper
    tokens), so that engine adds only ``around``.
    """

    placeholder: str
    token: str
    open: str = ""
    close: str = ""
    around: tuple[str, str] = ("", "")

    def expand(self, n: int) -> str:
        """The text one model image of ``n`` image tokens becomes."""
        return self.around[0] + self.open + self.token * n + self.close + self.around[1]

    @property
    def in_place(self) -> bool:
        """The placeholder becomes image tokens and nothing else (so the prompt length is known before tokenizing)."""
        return self.placeholder == self.token and not (self.open or self.close or any(self.around))


#: Tokens one ``view_size`` square becomes in a checkpoint of the family (``-1``: not a whole number).
Geometry = Callable[[int, Any], int]
#: Processor options for vLLM that keep images of ``least`` to ``most`` pixels at their size.
Pins = Callable[[int, int], dict[str, Any]]
#: The vision tower's keyword inputs for a ``[views, 3, S, S]`` tensor of normalised views, given the model config.
TowerInputs = Callable[[Any, Any], dict[str, Any]]


@dataclass(frozen=True)
class Family:
    """How one model family takes SPEC §3's views (see the module docstring)."""

    name: str
    model_types: frozenset[str]
    view_size: int
    grouping: Grouping
    geometry: Geometry
    image_text: ImageText
    mrope: bool = False
    bidirectional_images: bool = False
    image_type_ids: str = "token_type_ids"
    tower_inputs: TowerInputs | None = None
    projectors: frozenset[str] = frozenset()
    pins: Pins | None = None

    @property
    def layout(self) -> ViewLayout:
        """What intake renders: the grid as one image (``GRID``), or every view on its own (``TILES``)."""
        return ViewLayout.GRID if self.grouping is Grouping.GRID else ViewLayout.TILES

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
        return self.geometry(self.view_size, config)

    def model_images(self, plan: TilePlan) -> list[int]:
        """The views in each image the model takes for one request image planned as ``plan``, in order.

        ``STACK``: one image of all views; ``EACH_VIEW``: one image a view;
        ``GRID``: the grid image (``low``: the one view), then the thumbnail.
        Each model image costs ``views · 256`` image tokens.
        """
        if self.grouping is Grouping.STACK:
            return [plan.views]
        if self.grouping is Grouping.EACH_VIEW:
            return [1] * plan.views
        return [plan.tiles] + ([1] if plan.thumbnail else [])

    def vllm_processor_kwargs(self) -> dict[str, Any]:
        """``mm_processor_kwargs`` that make vLLM's processor keep every SPEC §3 image of this family at its size.

        Processors that resize to a pixel range (Qwen's) get the range from
        one view (``low``, the thumbnail) to the largest grid; checkpoints ship
        various ranges (some deployments cap at ~1 MP).
        """
        if self.pins is None:
            return {}
        return self.pins(self.view_size**2, MAX_TILES * self.view_size**2)


# --- geometries ------------------------------------------------------------------------------------


def merged_patches(view: int, config: Any) -> int:
    """Qwen / GLM: ``patch``-px patches merged ``merge × merge`` into one token."""
    vision = config.vision_config
    unit = _side(vision.patch_size) * int(vision.spatial_merge_size)
    return (view // unit) ** 2 if view % unit == 0 else -1


def pooled_image(view: int, config: Any) -> int:
    """Gemma 3: SigLIP at ``image_size``, its patches pooled to ``mm_tokens_per_image``."""
    return int(config.mm_tokens_per_image) if _side(config.vision_config.image_size) == view else -1


def pooled_patches(view: int, config: Any) -> int:
    """Gemma 4: ``patch``-px patches pooled ``k × k`` into one token (the processor's soft-token budget pinned)."""
    vision = config.vision_config
    unit = _side(vision.patch_size) * int(vision.pooling_kernel_size)
    return (view // unit) ** 2 if view % unit == 0 else -1


def pixel_shuffle(view: int, config: Any) -> int:
    """InternVL: ``(image_size / patch)²`` patches, pixel-shuffled by ``downsample_ratio``."""
    vision = config.vision_config
    if _side(vision.image_size) != view:
        return -1
    return int((view // _side(vision.patch_size)) ** 2 * config.downsample_ratio**2)


# --- vLLM processor pins ---------------------------------------------------------------------------


def min_max_pixels(least: int, most: int) -> dict[str, Any]:
    """Qwen2-VL's image processor options (vLLM passes them through)."""
    return {"min_pixels": least, "max_pixels": most}


def size_edges(least: int, most: int) -> dict[str, Any]:
    """Qwen3-VL's image processor options: ``size`` holds the pixel range as ``shortest_edge`` / ``longest_edge``."""
    return {"size": {"shortest_edge": least, "longest_edge": most}}


def two_frame_edges(least: int, most: int) -> dict[str, Any]:
    """GLM-V's image processor options: as Qwen3-VL's, but it counts an image as two frames (temporal patch 2)."""
    return size_edges(2 * least, 2 * most)


def soft_token_budget(least: int, most: int) -> dict[str, Any]:
    """Gemma 4's image processor option: the soft-token budget 280 (its default), under which a 768 px view is
    resized to itself (2 304 of 2 520 patches) and becomes 16 × 16 = 256 tokens. Every Gemma 4 model image is one
    view, so the pixel range does not enter."""
    return {"max_soft_tokens": 280}


# --- vision tower inputs ---------------------------------------------------------------------------


def flat_patches(views: Any, config: Any) -> dict[str, Any]:
    """Gemma 4: each view as its ``patch``-px patches, flat in row order, ``(x, y)`` positions beside.

    The layout of ``Gemma4ImageProcessor`` (``convert_image_to_patches``:
    row-major patches of ``p · p · 3`` values, channels last), without the
    padding to the budget's 2 520 patches, which the tower masks out.
    """
    import torch

    patch = _side(config.vision_config.patch_size)
    count, channels, height, width = views.shape
    rows, cols = height // patch, width // patch
    patches = views.reshape(count, channels, rows, patch, cols, patch).permute(0, 2, 4, 3, 5, 1)
    ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    positions = torch.stack([xs, ys], dim=-1).reshape(1, rows * cols, 2).expand(count, -1, -1)
    return {
        "pixel_values": patches.reshape(count, rows * cols, patch * patch * channels),
        "image_position_ids": positions.to(views.device),
    }


# --- the families ----------------------------------------------------------------------------------

_QWEN_IMAGE = ImageText(placeholder="<|image_pad|>", token="<|image_pad|>")

INTERNVL = Family(
    "internvl",
    frozenset({"internvl"}),
    448,
    Grouping.STACK,
    pixel_shuffle,
    ImageText(placeholder="<IMG_CONTEXT>", token="<IMG_CONTEXT>", open="<img>", close="</img>"),
    projectors=frozenset({"internvl"}),
)
QWEN2_5_VL = Family(
    "qwen2_5_vl",
    frozenset({"qwen2_vl", "qwen2_5_vl"}),
    448,
    Grouping.GRID,
    merged_patches,
    _QWEN_IMAGE,
    mrope=True,
    projectors=frozenset({"qwen2vl_merger", "qwen2.5vl_merger"}),
    pins=min_max_pixels,
)
QWEN3_VL = Family(
    "qwen3_vl",
    frozenset({"qwen3_vl", "qwen3_vl_moe"}),
    512,
    Grouping.GRID,
    merged_patches,
    _QWEN_IMAGE,
    mrope=True,
    projectors=frozenset({"qwen3vl_merger"}),
    pins=size_edges,
)
QWEN3_5 = Family(
    "qwen3_5",
    frozenset({"qwen3_5", "qwen3_5_moe"}),
    512,
    Grouping.GRID,
    merged_patches,
    _QWEN_IMAGE,
    mrope=True,
    # llama.cpp converts Qwen3.5's vision tower with the Qwen3-VL projector (qwen3vl_merger): the same views.
    pins=size_edges,
)
GLM4V = Family(
    "glm4v",
    frozenset({"glm4v", "glm4v_moe"}),
    448,
    Grouping.GRID,
    merged_patches,
    # Glm4vProcessor expands the template's <|image|> (between <|begin_of_image|> and <|end_of_image|>) in place.
    ImageText(placeholder="<|image|>", token="<|image|>"),
    mrope=True,
    projectors=frozenset({"glm4v"}),
    pins=two_frame_edges,
)
GEMMA3 = Family(
    "gemma3",
    frozenset({"gemma3"}),
    896,
    Grouping.EACH_VIEW,
    pooled_image,
    # Gemma3Processor's full_image_sequence: "\n\n<start_of_image>" + soft tokens + "<end_of_image>\n\n".
    ImageText(
        placeholder="<start_of_image>",
        token="<image_soft_token>",
        open="<start_of_image>",
        close="<end_of_image>",
        around=("\n\n", "\n\n"),
    ),
    bidirectional_images=True,
    projectors=frozenset({"gemma3"}),
)

GEMMA4 = Family(
    "gemma4",
    frozenset({"gemma4"}),
    768,
    Grouping.EACH_VIEW,
    pooled_patches,
    # Gemma4Processor.replace_image_token: the template's <|image|> becomes <|image> + soft tokens + <image|>.
    ImageText(placeholder="<|image|>", token="<|image|>", open="<|image>", close="<image|>"),
    bidirectional_images=True,
    image_type_ids="mm_token_type_ids",
    tower_inputs=flat_patches,
    projectors=frozenset({"gemma4v"}),
    pins=soft_token_budget,
)

FAMILIES: tuple[Family, ...] = (INTERNVL, QWEN2_5_VL, QWEN3_VL, QWEN3_5, GLM4V, GEMMA3, GEMMA4)


def family_of(model_type: str) -> Family | None:
    """The family of a ``config.model_type``, or None for families SPEC §3 does not map onto."""
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    return None


def of_projector(projector_type: str) -> Family | None:
    """The family of an mmproj's ``clip.projector_type`` (llama.cpp's names), or None."""
    for family in FAMILIES:
        if projector_type in family.projectors:
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
