"""Files in Store: content-addressed chunks, owner scope, quota, limits while streaming, listing, purge.

Each test runs on SQLite and PostgreSQL (see conftest).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable

import pytest

from oculi.errors import FileNotFound, InvalidRequest, PayloadTooLarge, QuotaExceeded
from oculi.store import FileLimits, Store
from oculi.store.files import CHUNK_BYTES

Rows = Callable[[str], list[tuple[object, ...]]]
LIMITS = FileLimits(max_bytes=8 * CHUNK_BYTES)


async def stream(data: bytes, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    """``data`` as an upload arrives: in pieces."""
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def test_round_trip_in_chunks_and_identical_bytes_stored_once(store: Store, rows: Rows) -> None:
    data = os.urandom(2 * CHUNK_BYTES + 123)
    a = await store.files.put_file("owner-a", "photo.png", "vision", stream(data), limits=LIMITS)
    b = await store.files.put_file("owner-b", "same.png", "assistants", stream(data), limits=LIMITS)
    assert a.id != b.id and a.id.startswith("file-") and a.bytes == len(data) and a.sha256 == b.sha256
    assert rows("SELECT count(*) FROM file_blobs") == [(1,)]
    assert rows("SELECT count(*) FROM file_chunks") == [(3,)]
    got = await store.files.get_file(a.id, "owner-a")
    assert got == a
    assert b"".join([c async for c in store.files.iter_file_content(a)]) == data
    assert (await store.files.read_file(b.id, "owner-b"))[1] == data
    # Deleting one file keeps the bytes the other still names; deleting the last removes them.
    assert await store.files.delete_file(a.id, "owner-a")
    assert rows("SELECT count(*) FROM file_chunks") == [(3,)]
    assert await store.files.delete_file(b.id, "owner-b")
    assert rows("SELECT count(*) FROM file_blobs") == [(0,)]
    assert rows("SELECT count(*) FROM file_chunks") == [(0,)]


async def test_other_owner_sees_reads_and_deletes_nothing(store: Store) -> None:
    f = await store.files.put_file("owner-a", "a.txt", "user_data", stream(b"hello"), limits=LIMITS)
    assert await store.files.get_file(f.id, "owner-b") is None
    with pytest.raises(FileNotFound, match=f.id):
        await store.files.read_file(f.id, "owner-b")
    assert not await store.files.delete_file(f.id, "owner-b")
    assert (await store.files.list_files("owner-b")).files == []
    assert (await store.files.read_file(f.id, "owner-a"))[1] == b"hello"


async def test_over_size_upload_is_refused_while_streaming(store: Store, rows: Rows) -> None:
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        while True:
            consumed += 65536
            yield b"x" * 65536

    with pytest.raises(PayloadTooLarge, match=r"limit of 8\.0 MiB"):
        await store.files.put_file("owner-a", "big.bin", "batch", endless(), limits=LIMITS)
    assert consumed <= LIMITS.max_bytes + 65536  # stopped at the limit, not at the end of the stream
    assert rows("SELECT count(*) FROM files") == [(0,)]
    assert rows("SELECT count(*) FROM file_blobs") == [(0,)]


async def test_quota_on_count_and_bytes(store: Store, rows: Rows) -> None:
    limits = FileLimits(max_bytes=10_000, quota_bytes=1000, quota_count=2)
    await store.files.put_file("owner-a", "1", "batch", stream(b"a" * 600), limits=limits)
    with pytest.raises(QuotaExceeded, match="quota"):
        await store.files.put_file("owner-a", "2", "batch", stream(b"b" * 600), limits=limits)
    await store.files.put_file("owner-a", "2", "batch", stream(b"b" * 400), limits=limits)
    with pytest.raises(QuotaExceeded, match="already stores 2 files"):
        await store.files.put_file("owner-a", "3", "batch", stream(b"c"), limits=limits)
    assert await store.files.file_usage("owner-a") == (2, 1000)
    # Another key has its own quota.
    await store.files.put_file("owner-b", "1", "batch", stream(b"d" * 1000), limits=limits)
    assert rows("SELECT count(*) FROM files") == [(3,)]


async def test_concurrent_uploads_cannot_both_pass_the_quota(store: Store) -> None:
    limits = FileLimits(max_bytes=10_000, quota_bytes=1000)
    results = await asyncio.gather(
        *(store.files.put_file("owner-a", f"{i}", "batch", stream(bytes([i]) * 600), limits=limits) for i in range(4)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, QuotaExceeded) for r in results if isinstance(r, BaseException))


async def test_listing_pages_sorts_and_filters(store: Store) -> None:
    made = [
        await store.files.put_file(
            "owner-a", f"f{i}.jsonl", "batch" if i % 2 else "vision", stream(b"x" * (i + 1)), limits=LIMITS
        )
        for i in range(5)
    ]
    await store.files.put_file("owner-b", "other", "batch", stream(b"y"), limits=LIMITS)
    ids = [f.id for f in made]
    # Same-second uploads are ordered by id after created_at; walk the pages with the cursor.
    expected = [f.id for f in sorted(made, key=lambda f: (f.created_at, f.id), reverse=True)]
    seen, after = [], None
    while True:
        page = await store.files.list_files("owner-a", limit=2, after=after)
        seen += [f.id for f in page.files]
        if not page.has_more:
            break
        after = page.files[-1].id
    assert seen == expected and sorted(seen) == sorted(ids)
    asc = await store.files.list_files("owner-a", order="asc", sort="bytes")
    assert [f.bytes for f in asc.files] == [1, 2, 3, 4, 5] and not asc.has_more
    batch = await store.files.list_files("owner-a", purpose="batch")
    assert {f.filename for f in batch.files} == {"f1.jsonl", "f3.jsonl"}
    with pytest.raises(InvalidRequest, match="after="):
        await store.files.list_files("owner-a", after="file-nope")


async def test_expired_files_are_invisible_then_purged(store: Store, rows: Rows) -> None:
    now = int(time.time())
    old = await store.files.put_file("owner-a", "old", "batch", stream(b"old bytes"), limits=LIMITS, expires_at=now - 1)
    keep = await store.files.put_file("owner-a", "keep", "batch", stream(b"kept"), limits=LIMITS, expires_at=now + 3600)
    assert await store.files.get_file(old.id, "owner-a") is None
    assert await store.files.file_usage("owner-a") == (1, 4)
    await store.purge_expired(now)
    assert rows("SELECT id FROM files") == [(keep.id,)]
    assert rows("SELECT count(*) FROM file_blobs") == [(1,)]


async def test_empty_file(store: Store) -> None:
    f = await store.files.put_file("owner-a", "empty", "user_data", stream(b""), limits=LIMITS)
    assert f.bytes == 0 and (await store.files.read_file(f.id, "owner-a"))[1] == b""
