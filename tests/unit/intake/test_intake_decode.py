"""Every bad non-URL input of SPEC §2 gets its typed 400, naming the image index; and good inputs decode right."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from intake_helpers import data_url, encode, photo
from PIL import Image

from oculi.domain import Detail, ImagePart
from oculi.errors import ImageDecodeError, ImageError, ImageTooLarge, InvalidRequest, UnsupportedImageType
from oculi.intake.decode import sniff_type
from oculi.intake.pipeline import Intake
from oculi.intake.types import PixelSpec

MiB = 1024 * 1024
SPEC = PixelSpec()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of ``width × height`` zeros: tiny on disk, huge in pixels."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


async def prepare_error(intake: Intake, urls: list[str]) -> ImageError:
    with pytest.raises(ImageError) as info:
        await intake.prepare([ImagePart(u) for u in urls], SPEC)
    return info.value


OTHER_FORMATS = [
    ("GIF", lambda: encode(Image.new("RGB", (8, 8), "red"), "GIF")),
    ("WebP", lambda: encode(Image.new("RGB", (8, 8), "red"), "WEBP")),
    ("BMP", lambda: encode(Image.new("RGB", (8, 8), "red"), "BMP")),
    ("TIFF", lambda: encode(Image.new("RGB", (8, 8), "red"), "TIFF")),
    ("HEIC", lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64),
    ("AVIF", lambda: b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + b"\x00" * 64),
    ("PDF", lambda: b"%PDF-1.7\n" + b"\x00" * 64),
    ("unknown", lambda: b"hello, this is not an image at all"),
]


@pytest.mark.parametrize(("name", "make"), OTHER_FORMATS, ids=[n for n, _ in OTHER_FORMATS])
async def test_other_formats_labelled_png_are_refused_by_signature(
    make_intake: Callable[..., Intake], small_png: bytes, name: str, make: Callable[[], bytes]
) -> None:
    urls = [data_url(small_png), data_url(make(), "image/png")]  # the label lies; the bytes decide
    error = await prepare_error(make_intake(), urls)
    assert isinstance(error, UnsupportedImageType)
    assert isinstance(error, InvalidRequest) and error.status == 400
    assert error.index == 1 and error.message.startswith("Image 1: ")
    assert name.split()[0] in error.message if name != "HEIC" else "HEIC" in error.message
    assert "JPEG and PNG" in error.message


def test_sniffing_names_formats() -> None:
    assert sniff_type(b"\xff\xd8\xff\xe0") == "JPEG"
    assert sniff_type(b"\x89PNG\r\n\x1a\n....") == "PNG"
    assert sniff_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WebP"
    assert sniff_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>") == "SVG"


async def test_jpeg_labelled_png_is_fine(make_intake: Callable[..., Intake], small_jpeg: bytes) -> None:
    [prepared] = await make_intake().prepare([ImagePart(data_url(small_jpeg, "image/png"))], SPEC)
    assert prepared.mime == "image/jpeg"
    assert (prepared.width, prepared.height) == (640, 480)


async def test_truncated_jpeg(make_intake: Callable[..., Intake], small_jpeg: bytes) -> None:
    error = await prepare_error(make_intake(), [data_url(small_jpeg[: len(small_jpeg) // 2], "image/jpeg")])
    assert isinstance(error, ImageDecodeError)
    assert error.index == 0 and "truncated or corrupt" in error.message


async def test_corrupt_png(make_intake: Callable[..., Intake]) -> None:
    png = bytearray(encode(photo(200, 150, seed=1), "PNG"))
    start = png.index(b"IDAT") + 40
    png[start : start + 400] = bytes(range(200)) * 2  # garbage inside the compressed pixel data
    error = await prepare_error(make_intake(), [data_url(bytes(png))])
    assert isinstance(error, ImageDecodeError)
    assert "PNG" in error.message


async def test_corrupt_header(make_intake: Callable[..., Intake]) -> None:
    error = await prepare_error(make_intake(), [data_url(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)])
    assert isinstance(error, ImageDecodeError)


async def test_twenty_mib_plus_one_byte(make_intake: Callable[..., Intake]) -> None:
    too_big = b"\xff\xd8\xff\xe0" + b"\x00" * (20 * MiB + 1 - 4)
    error = await prepare_error(make_intake(), [data_url(too_big, "image/jpeg")])
    assert isinstance(error, ImageTooLarge)
    assert "20 MiB" in error.message


async def test_exactly_twenty_mib_passes_the_size_check(make_intake: Callable[..., Intake]) -> None:
    at_limit = b"\xff\xd8\xff\xe0" + b"\x00" * (20 * MiB - 4)
    error = await prepare_error(make_intake(), [data_url(at_limit, "image/jpeg")])
    assert not isinstance(error, ImageTooLarge)  # refused as a broken JPEG, not for its size


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("data:image/png;base64,@@@not*base64", "base64"),
        ("data:image/png;base64,A", "base64"),  # 1 char past a 4-char group can never be valid
        ("data:image/png;base64,", "no data"),
        ("data:image/png;base64", "no ','"),
        ("data:text/plain;base64,aGVsbG8=", "text/plain"),
        ("data:,hello", "text/plain"),
        ("data:application/json;base64,e30=", "application/json"),
    ],
)
async def test_bad_data_urls(make_intake: Callable[..., Intake], url: str, words: str) -> None:
    error = await prepare_error(make_intake(), [url])
    assert isinstance(error, ImageDecodeError)
    assert words in error.message
    assert error.index == 0


async def test_base64_without_padding_and_line_wrapped(make_intake: Callable[..., Intake]) -> None:
    png = encode(photo(31, 17, seed=2), "PNG")
    assert len(png) % 3, "the test needs data whose base64 has padding"
    unpadded = data_url(png, padding=False)
    wrapped = unpadded[:60] + "\n" + unpadded[60:]
    prepared = await make_intake().prepare([ImagePart(unpadded), ImagePart(wrapped)], SPEC)
    assert [p.data for p in prepared] == [png, png]


async def test_decompression_bomb_refused_before_decoding(make_intake: Callable[..., Intake]) -> None:
    bomb = png_bomb(30_000, 30_000)  # 900 Mpx, ~100 KB on disk
    assert len(bomb) < 2 * MiB
    start = time.perf_counter()
    error = await prepare_error(make_intake(), [data_url(bomb)])
    assert isinstance(error, ImageTooLarge)
    assert time.perf_counter() - start < 2.0  # refused from the header, not by decoding 900 Mpx


async def test_bomb_over_the_configured_limit(make_intake: Callable[..., Intake]) -> None:
    bomb = png_bomb(5000, 5000)  # 25 Mpx: under Pillow's own guard, over ours below
    error = await prepare_error(make_intake(max_image_pixels=10_000_000), [data_url(bomb)])
    assert isinstance(error, ImageTooLarge)
    assert "5000x5000" in error.message and "10000000" in error.message


async def test_exif_orientation_6_is_applied(make_intake: Callable[..., Intake]) -> None:
    """Stored 200×100, left half red, right half blue, orientation 6 (rotate 90° clockwise to view)."""
    stored = np.zeros((100, 200, 3), dtype=np.uint8)
    stored[:, :100] = (255, 0, 0)
    stored[:, 100:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    spec = PixelSpec(tiles=True, full_image_max_side=1000)
    [prepared] = await make_intake().prepare([ImagePart(data_url(data, "image/jpeg"), Detail.HIGH)], spec)
    assert (prepared.width, prepared.height) == (100, 200)
    assert prepared.image is not None and prepared.image.size == (100, 200)
    top, bottom = prepared.image.getpixel((50, 25)), prepared.image.getpixel((50, 175))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60, top  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert (prepared.plan.cols, prepared.plan.rows) == (1, 2)  # planned on the upright size


async def test_transparent_pixels_become_white(make_intake: Callable[..., Intake]) -> None:
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 32, 64))
    spec = PixelSpec(tiles=False, full_image_max_side=64)
    [prepared] = await make_intake().prepare([ImagePart(data_url(encode(rgba, "PNG")))], spec)
    assert prepared.image is not None and prepared.image.mode == "RGB"
    assert prepared.image.getpixel((48, 10)) == (255, 255, 255)
    assert prepared.image.getpixel((10, 10)) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["L", "P", "LA", "I;16", "1", "CMYK"])
async def test_other_pixel_modes_become_rgb(make_intake: Callable[..., Intake], mode: str) -> None:
    source = photo(40, 30, seed=7)
    if mode == "I;16":  # full-range 16-bit greyscale, as scanners and medical images produce
        image = Image.fromarray(np.asarray(source.convert("L")).astype(np.uint16) * 257)
    else:
        image = source.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    spec = PixelSpec(tiles=True, full_image_max_side=40)
    [prepared] = await make_intake().prepare([ImagePart(data_url(encode(image, fmt)), Detail.LOW)], spec)
    assert prepared.image is not None and prepared.image.mode == "RGB" and prepared.image.size == (40, 30)
    assert prepared.pixel_values is not None and prepared.pixel_values.shape == (1, 3, 448, 448)
    assert float(np.asarray(prepared.image).std()) > 5  # not flattened to one colour
