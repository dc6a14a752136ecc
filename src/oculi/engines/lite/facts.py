"""Plain facts about an image that need no model: size, orientation, colours, kind.

Colours are named by hue, saturation and brightness buckets (the names a person
would use: "red", "dark blue", ...) rather than by nearest sRGB swatch, because
nearest-swatch naming calls most shaded photo pixels "gray". The kind
(screenshot / document / photo) is a heuristic from flat-colour areas, paper
brightness and the amount of text, and the answer says it is a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from PIL import Image

#: Colours covering less of the image than this are not worth naming.
MIN_COLOUR_SHARE = 0.04
_SAMPLE_SIDE = 160  # colour statistics on a thumbnail: fast, and noise averages out


class Kind(StrEnum):
    """What sort of picture it looks like."""

    SCREENSHOT = "screenshot"
    DOCUMENT = "document"
    PHOTO = "photo"
    GRAPHIC = "graphic"  # flat colours and little or no text: a chart, logo, drawing


@dataclass(frozen=True)
class Colour:
    """A named colour and the share of the image it covers (0..1)."""

    name: str
    share: float


@dataclass(frozen=True)
class ImageFacts:
    """Measured facts about one image."""

    width: int
    height: int
    colours: tuple[Colour, ...]
    flat_share: float  # share of pixels in the few most common exact colours
    light_share: float  # share of near-white pixels

    @property
    def orientation(self) -> str:
        if self.width > self.height * 1.05:
            return "landscape"
        if self.height > self.width * 1.05:
            return "portrait"
        return "square"

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def kind(self, text_lines: int) -> Kind:
        """Screenshot, document, photo or graphic, judged with the OCR line count."""
        if self.flat_share < 0.35:
            return Kind.PHOTO
        if self.light_share > 0.6 and text_lines >= 3 and self.height >= self.width * 0.9:
            return Kind.DOCUMENT
        if text_lines >= 3:
            return Kind.SCREENSHOT
        return Kind.GRAPHIC


def _hue_name(hue: np.ndarray) -> np.ndarray:
    """Hue in degrees → basic colour name."""
    bounds = [(15, "red"), (40, "orange"), (68, "yellow"), (160, "green"), (195, "cyan"), (260, "blue")]
    bounds += [(290, "purple"), (340, "pink"), (361, "red")]
    names = np.empty(hue.shape, dtype=object)
    low = 0.0
    for high, name in bounds:
        names[(hue >= low) & (hue < high)] = name
        low = high
    return names


def colour_names(rgb: np.ndarray) -> np.ndarray:
    """Name every pixel of an ``[..., 3]`` uint8 RGB array (vectorised HSV buckets)."""
    x = rgb.astype(np.float32) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    value = x.max(axis=-1)
    chroma = value - x.min(axis=-1)
    saturation = np.where(value > 0, chroma / np.maximum(value, 1e-6), 0.0)
    safe = np.maximum(chroma, 1e-6)
    hue = np.select(
        [value == r, value == g],
        [((g - b) / safe) % 6.0, (b - r) / safe + 2.0],
        default=(r - g) / safe + 4.0,
    )
    hue = hue * 60.0
    names = _hue_name(hue)
    # Dark orange/red is brown; dark anything else is "dark <hue>".
    dark = value < 0.45
    brownish = (names == "orange") | ((names == "red") & (saturation < 0.75)) | (names == "yellow")
    names = np.where(dark & brownish & (value >= 0.15), "brown", names)
    names = np.where(dark & ~brownish & (value >= 0.15), np.char.add("dark ", names.astype(str)), names)
    names = np.where((names == "orange") & (value < 0.6), "brown", names)
    names = np.where((names == "red") & (saturation < 0.45) & (value > 0.7), "pink", names)
    # Greys: too little colour to name a hue.
    grey = (saturation < 0.18) | (chroma < 0.08)
    grey_name = np.where(value > 0.9, "white", np.where(value > 0.6, "light gray", np.where(value > 0.3, "gray", "")))
    names = np.where(grey, grey_name, names)
    names = np.where(grey & (value <= 0.3), "black", names)
    names = np.where(value < 0.15, "black", names)
    return names


def measure(image: Image.Image) -> ImageFacts:
    """Size, dominant colours (by share), flatness and paper brightness of ``image``."""
    thumb = image.convert("RGB")
    thumb.thumbnail((_SAMPLE_SIDE, _SAMPLE_SIDE), Image.Resampling.BOX)
    pixels = np.asarray(thumb).reshape(-1, 3)
    names = colour_names(pixels)
    labels, counts = np.unique(names, return_counts=True)
    total = float(len(names))
    shares = [Colour(str(n), float(c) / total) for n, c in zip(labels, counts, strict=True)]
    colours = sorted((c for c in shares if c.share >= MIN_COLOUR_SHARE), key=lambda c: -c.share)
    # Flatness on the full-size pixels, sampled: thumbnails blend UI edges into new colours.
    full = np.asarray(image.convert("RGB"))
    step = max(1, int(np.sqrt(full.shape[0] * full.shape[1] / 250_000)))
    sample = full[::step, ::step].reshape(-1, 3)
    packed = (sample[:, 0].astype(np.int32) << 16) | (sample[:, 1].astype(np.int32) << 8) | sample[:, 2]
    _, exact = np.unique(packed, return_counts=True)
    flat = float(np.sort(exact)[-8:].sum()) / len(packed)
    light = float((sample.min(axis=1) > 225).mean())
    return ImageFacts(image.width, image.height, tuple(colours), flat, light)
