"""A mixed image corpus for the ``content`` auto-detail policy: bench/auto_detail.py and its tests.

Every item is made here, deterministically (fixed seeds), from parts that ship
inside pinned packages: scikit-image's sample photographs and scans (real
camera images, a scanned page, text on a photo), and text drawn with the font
Pillow ships (``ImageFont.load_default(size)``). Kinds:

- ``photo``: the sample photographs, enlarged (with sensor-like grain) to
  phone-photo sizes up to 12 MP;
- ``sign``: such a photo with a sign of text pasted in, the text from 9 to
  120 px high;
- ``document``: pages of text at one font size each (8–64 px), or a large
  title above small print;
- ``screenshot``: UI-like screens (title bar, sidebar, text at 11–18 px);
- ``chart``: bar and line charts with axis labels at 9–28 px;
- ``slide``: a title and bullet points at 36–96 px;
- ``strip``: thin banners (up to 30:1) with or without text.

Each item knows the text drawn on it (``text``) and the smallest font size
used (``min_em``, px), which the benchmark's ground truth uses; neither is
seen by the policy.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Words drawn on rendered items (common English and numbers, so OCR has a fair chance).
_WORD_TEXT = (
    "invoice total amount due date account number customer order price quantity tax net payment "
    "report summary quarter revenue growth market share region north south east west sales cost "
    "profit margin budget forecast meeting agenda notes project status team review release update "
    "open closed pending approved warning error success settings profile search home help menu file "
    "edit view window tools station platform exit entrance parking street avenue road hotel coffee "
    "bakery pharmacy museum library garden river bridge tower market cafe bank office monday "
    "tuesday friday january march june october 2024 2025 12.50 349 1200 87% 3.14 42 7"
)
WORDS = tuple(_WORD_TEXT.split())
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "hubble_deep_field", "retina")
TEXTURES = ("grass", "gravel", "brick", "immunohistochemistry", "moon", "cell")
SCANS = ("page", "text")


@dataclass(frozen=True)
class CorpusItem:
    """One corpus image: how to make it (the image and the text drawn on it, None: nothing drawn)."""

    name: str
    kind: str
    make: Callable[[], tuple[Image.Image, str | None]]
    min_em: int | None = None  # the smallest font size drawn, in the image's own pixels
    fmt: str = "PNG"

    @staticmethod
    def encode(image: Image.Image, fmt: str) -> bytes:
        """``image`` as the JPEG or PNG bytes a client would send."""
        buffer = io.BytesIO()
        if fmt == "JPEG":
            image.save(buffer, "JPEG", quality=90)
        else:
            image.save(buffer, "PNG", compress_level=1)
        return buffer.getvalue()


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def _words(rng: np.random.Generator, count: int) -> str:
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), count))


@cache
def _sample(name: str) -> Image.Image:
    import skimage.data

    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    return Image.fromarray(np.asarray(pixels[..., :3], dtype=np.uint8))


def _enlarged(name: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A sample photo cropped to the aspect of ``size``, enlarged to it, with faint sensor grain."""
    image = _sample(name)
    w, h = image.size
    aspect = size[0] / size[1]
    if w / h > aspect:
        crop_w = round(h * aspect)
        image = image.crop(((w - crop_w) // 2, 0, (w - crop_w) // 2 + crop_w, h))
    else:
        crop_h = round(w / aspect)
        image = image.crop((0, (h - crop_h) // 2, w, (h - crop_h) // 2 + crop_h))
    big = np.asarray(image.resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    grain = np.random.default_rng(seed).integers(-4, 5, (size[1], size[0], 1), dtype=np.int16)
    return Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8))


def _lines(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], em: int, rng: np.random.Generator) -> str:
    """Fill ``box`` with lines of words at font size ``em``; the text drawn, line by line."""
    left, top, right, bottom = box
    font = _font(em)
    drawn = []
    y = top
    while y + em <= bottom:
        words: list[str] = []
        for word in _words(rng, 40).split():
            if draw.textlength(" ".join([*words, word]), font=font) > right - left:
                break
            words.append(word)
        line = " ".join(words)
        draw.text((left, y), line, fill=(20, 20, 20), font=font)
        drawn.append(line)
        y += round(em * 1.5)
    return "\n".join(drawn)


def _document(size: tuple[int, int], em: int, seed: int, title: int | None = None) -> tuple[Image.Image, str | None]:
    rng = np.random.default_rng(seed)
    page = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(page)
    w, h = size
    top = round(h * 0.06)
    text = ""
    if title is not None:
        heading = _words(rng, 3)
        draw.text((round(w * 0.08), top), heading, fill=(0, 0, 0), font=_font(title))
        text = heading + "\n"
        top += round(title * 1.8)
        # small print only at the bottom: the title is most of the page
        return page, text + _lines(draw, (round(w * 0.08), round(h * 0.85), round(w * 0.92), h - 10), em, rng)
    return page, text + _lines(draw, (round(w * 0.08), top, round(w * 0.92), round(h * 0.94)), em, rng)


def _screenshot(size: tuple[int, int], em: int, seed: int) -> tuple[Image.Image, str | None]:
    rng = np.random.default_rng(seed)
    w, h = size
    screen = Image.new("RGB", size, (245, 246, 248))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, w, 3 * em), fill=(40, 90, 160))
    title = _words(rng, 3)
    draw.text((em, em), title, fill=(255, 255, 255), font=_font(em))
    draw.rectangle((0, 3 * em, w // 5, h), fill=(230, 232, 236))
    side = _lines(draw, (em, 4 * em, w // 5 - em, h - em), em, rng)
    body = _lines(draw, (w // 5 + 2 * em, 4 * em, w - 2 * em, h - em), em, rng)
    return screen, "\n".join([title, side, body])


def _chart(size: tuple[int, int], em: int, seed: int, bars: bool) -> tuple[Image.Image, str | None]:
    rng = np.random.default_rng(seed)
    w, h = size
    chart = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(chart)
    left, bottom, top, right = 6 * em, h - 3 * em, 3 * em, w - 2 * em
    draw.line((left, top, left, bottom, right, bottom), fill=(0, 0, 0), width=max(1, em // 8))
    title = _words(rng, 4)
    draw.text((left, em // 2), title, fill=(0, 0, 0), font=_font(em))
    labels = []
    n = 8
    values = rng.uniform(0.1, 1.0, n)
    step = (right - left) / n
    points = []
    for i, value in enumerate(values):
        x = left + step * (i + 0.5)
        y = bottom - value * (bottom - top)
        if bars:
            draw.rectangle((x - step * 0.3, y, x + step * 0.3, bottom), fill=(70, 130, 180))
        points.append((x, y))
        label = WORDS[int(rng.integers(0, len(WORDS)))][:6]
        draw.text((x - step * 0.4, bottom + em // 2), label, fill=(0, 0, 0), font=_font(em))
        labels.append(label)
    if not bars:
        draw.line(points, fill=(200, 60, 40), width=max(2, em // 6))
    ticks = []
    for k in range(5):
        y = bottom - k * (bottom - top) / 4
        tick = str(k * 25)
        draw.text((em, y - em // 2), tick, fill=(0, 0, 0), font=_font(em))
        ticks.append(tick)
    return chart, "\n".join([title, " ".join(labels), " ".join(ticks)])


def _slide(size: tuple[int, int], em: int, seed: int) -> tuple[Image.Image, str | None]:
    rng = np.random.default_rng(seed)
    w, h = size
    slide = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(slide)
    title = _words(rng, 3)
    draw.text((w // 12, h // 12), title, fill=(20, 40, 90), font=_font(round(em * 1.6)))
    lines = [title]
    y = h // 12 + round(em * 3.2)
    for _ in range(4):
        if y + em > h:
            break
        bullet = _words(rng, 3)
        draw.text((w // 10, y), "- " + bullet, fill=(30, 30, 30), font=_font(em))
        lines.append(bullet)
        y += round(em * 1.8)
    return slide, "\n".join(lines)


def _sign(photo: str, size: tuple[int, int], em: int, seed: int) -> tuple[Image.Image, str | None]:
    """A photo with a white sign of dark text (1-2 short lines at ``em`` px) somewhere in it."""
    rng = np.random.default_rng(seed)
    image = _enlarged(photo, size, seed)
    draw = ImageDraw.Draw(image)
    lines = [_words(rng, 2) for _ in range(2)]
    font = _font(em)
    width = max(int(draw.textlength(line, font=font)) for line in lines) + em
    height = round(em * 3.4)
    x = int(rng.integers(0, max(1, size[0] - width)))
    y = int(rng.integers(0, max(1, size[1] - height)))
    draw.rectangle((x, y, x + width, y + height), fill=(250, 250, 250), outline=(30, 30, 30))
    for i, line in enumerate(lines):
        draw.text((x + em // 2, y + em // 3 + round(i * em * 1.5)), line, fill=(15, 15, 15), font=font)
    return image, "\n".join(lines)


def _strip(size: tuple[int, int], em: int | None, seed: int) -> tuple[Image.Image, str | None]:
    rng = np.random.default_rng(seed)
    w, h = size
    ramp = np.linspace(rng.integers(80, 160), rng.integers(160, 255), w, dtype=np.float32)
    colour = rng.uniform(0.6, 1.0, 3)
    pixels = (ramp[None, :, None] * colour[None, None, :]).repeat(h, axis=0)
    strip = Image.fromarray(pixels.astype(np.uint8))
    if em is None:
        return strip, None
    draw = ImageDraw.Draw(strip)
    text = _words(rng, 12)
    draw.text((em, (h - em) // 2), text, fill=(0, 0, 0), font=_font(em))
    return strip, text


def _plain(image: Callable[[], Image.Image]) -> tuple[Image.Image, str | None]:
    return image(), None


def corpus() -> Iterator[CorpusItem]:
    """Every item of the corpus, in a fixed order (names are unique and stable)."""
    photo_sizes = [(1024, 768), (1600, 1200), (2048, 1536), (3024, 4032), (4032, 3024), (1920, 1080)]
    for i, name in enumerate(PHOTOS + TEXTURES):
        for j, size in enumerate(photo_sizes[(i % 2) :: 2]):
            make = partial(_plain, partial(_enlarged, name, size, i * 7 + j))
            yield CorpusItem(f"photo-{name}-{size[0]}x{size[1]}", "photo", make, None, "JPEG")
    for name in ("hubble_deep_field", "retina", "coffee", "rocket"):
        yield CorpusItem(f"photo-{name}-original", "photo", partial(_plain, partial(_sample, name)), None, "JPEG")
    for name in SCANS:
        for scale in (2, 3, 4):
            size = (_sample(name).width * scale, _sample(name).height * scale)
            make = partial(_plain, partial(_enlarged, name, size, 3))
            yield CorpusItem(f"scan-{name}-x{scale}", "scan", make, None, "PNG")
    ems = (9, 12, 16, 20, 24, 32, 40, 56, 80, 120)
    for i, photo in enumerate(PHOTOS * 8):
        em, size = ems[i % len(ems)], photo_sizes[i % len(photo_sizes)]
        name = f"sign-{photo}-{size[0]}x{size[1]}-em{em}-{i}"
        yield CorpusItem(name, "sign", partial(_sign, photo, size, em, i), em, "JPEG")
    page_sizes = [(1240, 1754), (1600, 1200), (2480, 3508), (1000, 1400), (1920, 1080)]
    for i, em in enumerate((8, 10, 12, 14, 16, 18, 20, 24, 28, 32, 40, 48, 56, 64) * 4):
        size = page_sizes[i % len(page_sizes)]
        yield CorpusItem(f"document-{size[0]}x{size[1]}-em{em}-{i}", "document", partial(_document, size, em, i), em)
    for i, em in enumerate((10, 12, 14, 16, 20, 24) * 3):
        size = page_sizes[i % len(page_sizes)]
        make = partial(_document, size, em, 100 + i, title=em * 6)
        yield CorpusItem(f"document-title-{size[0]}x{size[1]}-em{em}-{i}", "document", make, em)
    screen_sizes = [(1920, 1080), (2560, 1440), (1280, 800), (1170, 2532)]
    for i, em in enumerate((11, 12, 13, 14, 16, 18) * 5):
        size = screen_sizes[i % len(screen_sizes)]
        make = partial(_screenshot, size, em, i)
        yield CorpusItem(f"screenshot-{size[0]}x{size[1]}-em{em}-{i}", "screenshot", make, em)
    chart_sizes = [(1200, 800), (1600, 900), (800, 600), (2000, 1500)]
    for i, em in enumerate((9, 11, 14, 18, 22, 28) * 5):
        size = chart_sizes[i % len(chart_sizes)]
        make = partial(_chart, size, em, i, bars=i % 2 == 0)
        yield CorpusItem(f"chart-{size[0]}x{size[1]}-em{em}-{i}", "chart", make, em)
    for i, em in enumerate((36, 44, 56, 72, 96) * 6):
        size = screen_sizes[i % 3]
        yield CorpusItem(f"slide-{size[0]}x{size[1]}-em{em}-{i}", "slide", partial(_slide, size, em, i), em)
    strip_sizes = [(2000, 150), (3000, 100), (1500, 200), (600, 3000), (2400, 300)]
    strip_ems: tuple[int | None, ...] = (None, 14, 24, 40, 60, None, 20, 32) * 3
    for i, strip_em in enumerate(strip_ems):
        size = strip_sizes[i % len(strip_sizes)]
        if strip_em is not None and strip_em > 0.8 * min(size):
            strip_em = int(0.6 * min(size))
        make = partial(_strip, size, strip_em, i)
        yield CorpusItem(f"strip-{size[0]}x{size[1]}-em{strip_em}-{i}", "strip", make, strip_em)


__all__ = ["CorpusItem", "corpus"]
