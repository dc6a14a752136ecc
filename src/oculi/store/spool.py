"""Spooling an upload: an async stream of bytes into a temporary file, hashed and counted, refused at a limit.

The first of an upload's two steps (``files.py``): no database transaction
is open and the file is never whole in memory while a slow or huge stream
arrives.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterable

from oculi.errors import PayloadTooLarge, QuotaExceeded
from oculi.store.base import Spooled

CHUNK_BYTES = 1024 * 1024  # one stored chunk, and one spool write


def describe_size(n: int) -> str:
    """``n`` bytes for a person (MiB when large)."""
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


async def spool(content: AsyncIterable[bytes], *, max_bytes: int, quota_left: int | None = None) -> Spooled:
    """Write ``content`` to a temporary file, refusing it as soon as it passes a limit.

    ``PayloadTooLarge`` past ``max_bytes``; ``QuotaExceeded`` past
    ``quota_left`` (what the owner's byte quota still allows), whichever
    comes first. The caller closes ``Spooled.file`` (which deletes it).
    """
    sink = tempfile.TemporaryFile(prefix="oculi-upload-")  # noqa: SIM115 (returned to the caller, who closes it)
    digest = hashlib.sha256()
    size = 0
    pending: list[bytes] = []
    pending_bytes = 0

    def flush(batch: list[bytes]) -> None:
        for piece in batch:
            digest.update(piece)
            sink.write(piece)

    try:
        async for piece in content:
            size += len(piece)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"The file is larger than this server's limit of {describe_size(max_bytes)} per file "
                    "(max_file_bytes). Upload a smaller file."
                )
            if quota_left is not None and size > quota_left:
                raise QuotaExceeded(
                    f"This upload would pass the API key's file storage quota: {describe_size(max(quota_left, 0))} "
                    "left. Delete files you no longer need (DELETE /v1/files/{id})."
                )
            pending.append(piece)
            pending_bytes += len(piece)
            if pending_bytes >= CHUNK_BYTES:
                batch, pending, pending_bytes = pending, [], 0
                await asyncio.to_thread(flush, batch)
        await asyncio.to_thread(flush, pending)
        await asyncio.to_thread(sink.flush)
    except BaseException:
        sink.close()
        raise
    return Spooled(sink, size, digest.hexdigest())
