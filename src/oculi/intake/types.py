"""Data the intake pipeline hands to engines and wire surfaces (no I/O)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from oculi.domain import Detail, ImageHeader

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TILE_SIZE = 448
TOKENS_PER_TILE = 256
MAX_TILES = 6


class ViewLayout(Enum):
    """How an image's SPEC §3 views are grouped into the images a model takes (see ``oculi.families``)."""

    TILES = "tiles"  # every view its own image: stacked ``[views, …]`` in ``PreparedImage.pixel_values``
    GRID = "grid"  # the grid as one image, then the thumbnail: ``PreparedImage.model_images``


@dataclass(frozen=True)
class PixelSpec:
    """What pixels an engine wants from intake.

    ``tiles``: SPEC §3 views rendered at ``view_size`` (the grid is chosen by
    the 448-based rule whatever the view size; bicubic resize, RGB). With
    ``normalise`` they are float32 channels-first, normalised with
    ``mean``/``std``; without, uint8 ``[…, H, W, 3]`` for a processor that
    normalises itself. ``layout`` ``TILES``: stacked per image as
    ``[views, 3, S, S]`` (the grid tiles row by row, then the thumbnail);
    ``GRID``: the grid as one ``[3, rows·S, cols·S]`` image, then the
    thumbnail (``low``: the one view).
    ``full_image_max_side``: also hand over the decoded RGB image, downscaled so
    its longer side is at most this (engines with their own processor, oculi-lite).
    """

    tiles: bool = True
    view_size: int = TILE_SIZE
    max_tiles: int = MAX_TILES
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    full_image_max_side: int | None = None
    layout: ViewLayout = ViewLayout.TILES
    normalise: bool = True


@dataclass(frozen=True)
class TilePlan:
    """The SPEC §3 tiling decision for one image."""

    detail: Detail  # effective detail: LOW or HIGH (AUTO resolved)
    cols: int
    rows: int
    thumbnail: bool

    @property
    def tiles(self) -> int:
        """Grid tiles, without the thumbnail."""
        return self.cols * self.rows

    @property
    def views(self) -> int:
        """Views fed to the model: grid tiles plus the thumbnail if any."""
        return self.tiles + (1 if self.thumbnail else 0)

    @property
    def image_tokens(self) -> int:
        return self.views * TOKENS_PER_TILE


@dataclass(frozen=True)
class FileImage:
    """An uploaded file named as an image, as intake gets it before reading a byte of it.

    ``sha256`` and ``nbytes`` come from the store, and ``header`` too when the
    upload was a JPEG/PNG (read once at upload): then the image is planned
    and charged to the admission budget before ``read`` fetches its bytes.
    """

    file_id: str
    sha256: str
    nbytes: int
    header: ImageHeader | None
    read: Callable[[], Awaitable[bytes]]
    #: Keeps a header intake read from the bytes (``header`` was None), so the next use knows it up front.
    remember: Callable[[ImageHeader], Awaitable[None]] | None = None


@dataclass
class PreparedImage:
    """One image after intake: validated, decoded and planned.

    ``index`` is the image's position among all images of the request (what
    error messages name). ``data`` is the original encoded bytes (what the
    store keeps, by ``sha256``).
    """

    index: int
    sha256: str
    data: bytes
    mime: str  # "image/jpeg" or "image/png", from the bytes' signature
    width: int  # after EXIF orientation
    height: int
    plan: TilePlan
    pixel_values: np.ndarray | None = None  # [views, 3, S, S] float32 (or uint8 [views, S, S, 3]): TILES layout
    image: Image.Image | None = None  # decoded RGB, when the spec asks for it
    model_images: tuple[np.ndarray, ...] | None = None  # GRID layout: the grid image, then the thumbnail
    #: Why ``plan.detail`` is what it is (``oculi.intake.detail.Reason``: "requested", "small text or fine detail", …).
    reason: str = ""

    @property
    def image_tokens(self) -> int:
        return self.plan.image_tokens
