"""Wire schemas of ``POST /v1/tokenize-text`` (xAI shape) and ``POST /v1/image-tokens``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TokenizeTextRequest(_Wire):
    """Text to tokenize with ``model``'s tokenizer (no chat template)."""

    text: str
    model: str


class TokenEntry(BaseModel):
    """One token: id, its text, and that text's UTF-8 bytes."""

    token_id: int
    string_token: str
    token_bytes: list[int]


class TokenizeTextResponse(BaseModel):
    """xAI shape."""

    token_ids: list[TokenEntry]


class ImageRef(_Wire):
    """An image to count: data URL or http(s) URL, and the detail level."""

    image_url: str
    detail: str | None = None


class ImageTokensRequest(_Wire):
    """One image (``image_url`` or an uploaded ``file_id``, + ``detail``) or several (``images``); ``model`` picks
    the tiling (default model). ``question``: the text the images would be sent with, which the ``content``
    auto-detail policy reads (a question asking to read or count makes ``auto`` images ``high``)."""

    model: str | None = None
    image_url: str | None = None
    detail: str | None = None
    images: list[ImageRef] | None = None
    file_id: str | None = None
    question: str | None = None


class ImageTokenCount(BaseModel):
    """SPEC §3 accounting of one image."""

    index: int
    width: int
    height: int
    detail: str  # the level the image is fed at: "low" or "high" (``auto`` resolved)
    reason: str  # why: "requested", "fits one view", "larger than one view", "small text or fine detail", ...
    cols: int
    rows: int
    tiles: int
    thumbnail: bool
    image_tokens: int
    # The side of one square view in pixels (the grid is cols·tile_size × rows·tile_size), so a
    # client can draw the tiles without knowing the model's tiling constants.
    tile_size: int


class ImageTokensResponse(BaseModel):
    """Per-image counts and their total."""

    model: str
    images: list[ImageTokenCount]
    image_tokens: int
