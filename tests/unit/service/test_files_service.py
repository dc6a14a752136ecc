"""``FileService``: the settings' rules on top of a real SQLite store."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from oculi.domain import ImageHeader, ImagePart
from oculi.errors import FileNotFound, ImageTooLarge, InvalidRequest, QuotaExceeded
from oculi.service.files import FileService
from oculi.settings import Settings
from oculi.store import Store


async def stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[FileService]:
    store = Store(f"sqlite:///{tmp_path / 'oculi.db'}", retention_days=30, purge_interval_s=0)
    await store.open()
    settings = Settings(max_file_bytes=1000, file_quota_count=2, max_image_bytes=100, file_retention_days=1)
    yield FileService(store.files, settings)
    await store.close()


async def test_upload_rules(service: FileService) -> None:
    made = await service.upload("me", "a.txt", None, stream(b"abc"))
    assert made.purpose == "assistants"  # optional on xAI; the conventional default
    assert made.expires_at is not None and abs(made.expires_at - (time.time() + 86400)) < 5  # file_retention_days
    explicit = await service.upload("me", "b.txt", "batch", stream(b"abc"), expires_after=3600)
    assert explicit.expires_at == explicit.created_at + 3600
    with pytest.raises(QuotaExceeded):
        await service.upload("me", "c.txt", "batch", stream(b"abc"))
    for filename, purpose, expires_after, param in [
        ("", "batch", None, "file"),
        ("x", "nonsense", None, "purpose"),
        ("x", "batch", 60, "expires_after"),
        ("x", "batch_output", None, "purpose"),  # written by the server, never uploaded
    ]:
        with pytest.raises(InvalidRequest) as caught:
            await service.upload("other", filename, purpose, stream(b"x"), expires_after=expires_after)
        assert caught.value.param == param


async def test_image_files_check_owner_and_size_before_reading(service: FileService) -> None:
    small = await service.upload("me", "s.png", "vision", stream(b"\x89PNG" + b"0" * 50))
    big = await service.upload("me", "b.png", "vision", stream(b"\x89PNG" + b"0" * 500))
    image = await service.image_file("me", small.id)
    assert (image.sha256, image.nbytes, image.header) == (small.sha256, 54, None)  # a broken PNG: no header kept
    assert await image.read() == b"\x89PNG" + b"0" * 50
    with pytest.raises(FileNotFound, match=small.id):
        await service.image_file("someone-else", small.id)
    with pytest.raises(ImageTooLarge, match=big.id) as caught:
        await service.image_files("me", [ImagePart.file(small.id), ImagePart("data:,"), ImagePart.file(big.id)])
    assert caught.value.index == 2  # the position of the image in the request
    with pytest.raises(FileNotFound, match="file-nothing"):
        await service.image_files("me", [ImagePart.file("file-nothing")])


async def test_an_image_upload_keeps_its_header(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'oculi.db'}", retention_days=30, purge_interval_s=0)
    await store.open()
    service = FileService(store.files, Settings(max_image_pixels=10_000))
    try:
        rotated = io.BytesIO()
        exif = Image.Exif()
        exif[0x0112] = 6  # EXIF orientation: rotate 90°, so the upright image is 30 wide and 80 high
        Image.new("RGB", (80, 30), "red").save(rotated, "JPEG", exif=exif)
        photo = await service.upload("me", "p.jpg", "vision", stream(rotated.getvalue()))
        text = await service.upload("me", "t.txt", "vision", stream(b"hello"))
        huge = io.BytesIO()
        Image.new("L", (200, 200)).save(huge, "PNG")  # over max_image_pixels: refused when used, not stored
        bomb = await service.upload("me", "h.png", "vision", stream(huge.getvalue()))
        found = await service.image_files("me", [ImagePart.file(f.id) for f in (photo, text, bomb)])
        assert found[photo.id].header == ImageHeader("image/jpeg", 30, 80, 6)
        assert found[text.id].header is None and found[bomb.id].header is None
        again = await service.upload("you", "same.jpg", None, stream(rotated.getvalue()))  # same bytes, other key
        assert (await service.image_file("you", again.id)).header == ImageHeader("image/jpeg", 30, 80, 6)
        # Bytes stored before headers were kept (straight into the store): learnt on first use, kept after.
        legacy = await store.files.put_file("me", "old.png", "vision", stream(b"\x89PNG old"), limits=service.limits)
        first = await service.image_file("me", legacy.id)
        assert first.header is None and first.remember is not None
        await first.remember(ImageHeader("image/png", 7, 5, 1))
        assert (await service.image_file("me", legacy.id)).header == ImageHeader("image/png", 7, 5, 1)
    finally:
        await store.close()


async def test_server_written_output_skips_the_upload_limits(service: FileService) -> None:
    out = await service.write_output("me", "results.jsonl", "batch_output", stream(b"r" * 5000))
    assert out.bytes == 5000 and out.purpose == "batch_output"
    assert [f.id for f in (await service.list("me", purpose="batch_output")).files] == [out.id]
    with pytest.raises(ValueError, match="purpose"):
        await service.write_output("me", "x", "vision", stream(b""))
