"""``FileService``: the settings' rules on top of a real SQLite store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from oculi.errors import FileNotFound, ImageTooLarge, InvalidRequest, QuotaExceeded
from oculi.service.files import FileService
from oculi.settings import Settings
from oculi.store import SqlStore


async def stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[FileService]:
    store = SqlStore(f"sqlite:///{tmp_path / 'oculi.db'}", retention_days=30, purge_interval_s=0)
    await store.open()
    settings = Settings(max_file_bytes=1000, file_quota_count=2, max_image_bytes=100, file_retention_days=1)
    yield FileService(store, settings)
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


async def test_image_bytes_checks_owner_and_size_before_reading(service: FileService) -> None:
    small = await service.upload("me", "s.png", "vision", stream(b"\x89PNG" + b"0" * 50))
    big = await service.upload("me", "b.png", "vision", stream(b"\x89PNG" + b"0" * 500))
    assert await service.image_bytes("me", small.id) == b"\x89PNG" + b"0" * 50
    with pytest.raises(FileNotFound, match=small.id):
        await service.image_bytes("someone-else", small.id)
    with pytest.raises(ImageTooLarge, match=big.id):
        await service.image_bytes("me", big.id)


async def test_server_written_output_skips_the_upload_limits(service: FileService) -> None:
    out = await service.write_output("me", "results.jsonl", "batch_output", stream(b"r" * 5000))
    assert out.bytes == 5000 and out.purpose == "batch_output"
    assert [f.id for f in (await service.list("me", purpose="batch_output")).files] == [out.id]
    with pytest.raises(ValueError, match="purpose"):
        await service.write_output("me", "x", "vision", stream(b""))
