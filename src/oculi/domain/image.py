"""What an image's header says, known before any pixel is decoded (intake reads it; the store keeps it for files)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageHeader:
    """The type, upright size and EXIF orientation of an image, from its header alone."""

    mime: str  # "image/jpeg" or "image/png", from the bytes' signature
    width: int  # after EXIF orientation
    height: int
    orientation: int  # EXIF orientation tag, 1 = upright
