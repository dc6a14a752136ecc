"""The store's Files part: uploads content-addressed, chunked, owner-scoped, with quota.

``FileStore`` runs on the store's one ``Database`` (each call one
transaction on its thread pool), beside the responses and job parts.

An upload goes in two steps, so a slow or huge stream never holds a
database transaction or the memory:

1. ``spool`` (``spool.py``): the async stream is written to an anonymous temporary file
   (in 1 MiB batches, hashed in the same thread hop), counting bytes and
   stopping at the limit.
2. One write transaction: the owner's quota is checked again under a lock
   (PostgreSQL: an advisory lock per owner; SQLite: ``BEGIN IMMEDIATE``
   already serialises writers), the blob and its chunks are inserted unless
   that sha256 is already stored (identical bytes: keep the stored ones),
   then the ``files`` row.

Deleting a file deletes its blob too when no other file names it, in the
same transaction (a savepoint guards the race where a concurrent upload of
the same bytes has just linked the blob: then it stays, as it should). The
store's purge loop deletes expired files and any blob left unnamed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import IO, Any, Literal

from sqlalchemy import Connection, Row, and_, delete, exists, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from oculi.domain import ImageHeader
from oculi.errors import FileNotFound, InvalidRequest, QuotaExceeded, StoreUnavailable
from oculi.store.base import FileLimits, FilePage, FileSort, Spooled, StoredFile
from oculi.store.database import Database
from oculi.store.schema import file_blobs, file_chunks, files
from oculi.store.spool import CHUNK_BYTES, describe_size, spool

#: How long an upload whose bytes have all arrived waits for a database that went away meanwhile.
OUTAGE_WAIT_S = 30.0

_PG_OWNER_LOCK = "SELECT pg_advisory_xact_lock(hashtext('oculi.files:' || %(owner)s))"


def new_file_id() -> str:
    """A fresh file id in the hosted APIs' shape (``file-`` + 32 hex digits).

    The first 12 digits are the upload's millisecond, so ids sort in upload
    order: listings ordered by ``created_at`` (whole seconds) then id keep
    files uploaded within the same second in order. The rest is random.
    """
    return f"file-{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


class FileStore:
    """The Files part of the ``Store``, on its ``Database`` (see module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- async API --------------------------------------------------------------------------

    async def put_file(
        self,
        owner: str,
        filename: str,
        purpose: str,
        content: AsyncIterable[bytes],
        *,
        limits: FileLimits,
        expires_at: int | None = None,
    ) -> StoredFile:
        """Store a new file read from ``content``; durable when this returns (``spool_upload`` then ``put_spooled``).

        Raises ``PayloadTooLarge`` as soon as more than ``limits.max_bytes``
        arrive and ``QuotaExceeded`` when the owner's files would pass the
        quota (checked before, while and after reading; the last check is
        atomic with the insert, so concurrent uploads cannot both slip in).
        """
        spooled = await self.spool_upload(owner, content, limits=limits)
        try:
            return await self.put_spooled(owner, filename, purpose, spooled, limits=limits, expires_at=expires_at)
        finally:
            await asyncio.to_thread(spooled.file.close)

    async def spool_upload(self, owner: str, content: AsyncIterable[bytes], *, limits: FileLimits) -> Spooled:
        """First half of ``put_file``: ``content`` into a temporary file, limits enforced while reading.

        For surfaces that learn a file's metadata only after its bytes (a
        multipart form whose ``purpose`` follows the file). Close
        ``Spooled.file`` when done. While the database is known to be down
        the upload is refused at once (503), before any byte is read.
        """
        if not self.db.available:
            await self.db.ping()
        quota_left = None
        if limits.quota_bytes is not None or limits.quota_count is not None:
            count, used = await self.file_usage(owner)
            _check_quota(limits, count, used, 0)
            if limits.quota_bytes is not None:
                quota_left = limits.quota_bytes - used
        return await spool(content, max_bytes=limits.max_bytes, quota_left=quota_left)

    async def put_spooled(
        self,
        owner: str,
        filename: str,
        purpose: str,
        spooled: Spooled,
        *,
        limits: FileLimits,
        expires_at: int | None = None,
        image: ImageHeader | None = None,
    ) -> StoredFile:
        """Second half of ``put_file``: store what ``spool_upload`` read (quota checked again, atomically).

        ``image``: the header of an image upload, kept with the bytes so a
        request using the file is admitted by it before the bytes are read.
        A database outage met here pauses the upload (its bytes are spooled)
        for up to ``OUTAGE_WAIT_S`` and then stores it; the write is one
        transaction, and a retry after a commit whose answer was lost finds
        the file already there, so it is stored exactly once.
        """
        record = StoredFile(
            id=new_file_id(),
            owner=owner,
            filename=filename,
            purpose=purpose,
            bytes=spooled.size,
            sha256=spooled.sha256,
            created_at=int(time.time()),
            expires_at=expires_at,
            image=image,
        )
        try:
            await self.db.run(self._put_file, record, spooled.file, limits, write=True, what="storing a file")
        except StoreUnavailable:
            if not await self.db.wait(OUTAGE_WAIT_S):
                raise
            await self.db.run(self._put_file, record, spooled.file, limits, write=True, what="storing a file")
        return record

    async def get_file(self, file_id: str, owner: str) -> StoredFile | None:
        """The file if it exists, belongs to ``owner`` and has not expired."""
        return await self.db.run(self._get_file, file_id, owner, write=False, what="reading a file")

    async def get_files(self, file_ids: list[str], owner: str) -> dict[str, StoredFile]:
        """``get_file`` for several ids in one read: the ones that exist, by id."""
        if not file_ids:
            return {}
        return await self.db.run(self._get_files, file_ids, owner, write=False, what="reading files")

    async def set_file_image(self, sha256: str, image: ImageHeader) -> None:
        """Keep the image header of bytes stored before headers were (a no-op when one is kept already)."""
        stmt = (
            file_blobs.update()
            .where(file_blobs.c.sha256 == sha256, file_blobs.c.image_mime.is_(None))
            .values(**_image_columns(image))
        )
        await self.db.run(lambda conn: conn.execute(stmt), write=True, what="keeping an image header")

    async def iter_file_content(self, file: StoredFile) -> AsyncIterator[bytes]:
        """The bytes of ``file`` (from ``get_file``) in chunks, one short read each; ``FileNotFound`` if deleted."""
        seq = 0
        while True:
            chunk = await self.db.run(self._get_chunk, file.sha256, seq, write=False, what="reading a file")
            if chunk is None:
                break
            yield chunk
            seq += 1
        if seq == 0 and file.bytes > 0:
            raise FileNotFound(file.id)

    async def read_file(self, file_id: str, owner: str) -> tuple[StoredFile, bytes]:
        """Metadata and whole content of a (small) file; ``FileNotFound`` when ``get_file`` has none."""
        file = await self.get_file(file_id, owner)
        if file is None:
            raise FileNotFound(file_id)
        data = b"".join([chunk async for chunk in self.iter_file_content(file)])
        if len(data) != file.bytes:
            raise FileNotFound(file_id)  # deleted while being read
        return file, data

    async def delete_file(self, file_id: str, owner: str) -> bool:
        """Delete; False when there was nothing of ``owner``'s to delete. Unshared bytes go at once."""
        return await self.db.run(self._delete_file, file_id, owner, write=True, what="deleting a file")

    async def list_files(
        self,
        owner: str,
        *,
        limit: int = 100,
        after: str | None = None,
        order: Literal["asc", "desc"] = "desc",
        purpose: str | None = None,
        sort: FileSort = "created_at",
    ) -> FilePage:
        """``owner``'s unexpired files sorted by ``sort`` (then id), after the file ``after`` (a cursor)."""
        return await self.db.run(
            self._list_files, owner, limit, after, order, purpose, sort, write=False, what="listing files"
        )

    async def file_usage(self, owner: str) -> tuple[int, int]:
        """``(count, total bytes)`` of ``owner``'s unexpired files (what the quota counts)."""
        return await self.db.run(self._file_usage, owner, write=False, what="reading file usage")

    # --- blocking implementations (run in the executor) -----------------------------------

    def _put_file(self, conn: Connection, record: StoredFile, content: IO[bytes], limits: FileLimits) -> None:
        if conn.execute(select(files.c.id).where(files.c.id == record.id)).first() is not None:
            return  # committed by a try whose answer the outage lost
        if self.db.dialect == "postgresql":
            conn.exec_driver_sql(_PG_OWNER_LOCK, {"owner": record.owner})
        count, used = self._file_usage(conn, record.owner)
        _check_quota(limits, count, used, record.bytes)
        image = _image_columns(record.image)
        created = conn.execute(
            self.db.insert(file_blobs)
            .values(sha256=record.sha256, bytes=record.bytes, created_at=record.created_at, **image)
            .on_conflict_do_nothing(index_elements=["sha256"])
            .returning(file_blobs.c.sha256)
        ).first()
        if created is None and record.image is not None:  # bytes stored before headers were kept: add it
            conn.execute(
                file_blobs.update()
                .where(file_blobs.c.sha256 == record.sha256, file_blobs.c.image_mime.is_(None))
                .values(**image)
            )
        if created is not None:  # new bytes: store them; otherwise the identical ones are already there
            content.seek(0)
            seq = 0
            while piece := content.read(CHUNK_BYTES):
                conn.execute(file_chunks.insert().values(sha256=record.sha256, seq=seq, data=piece))
                seq += 1
        conn.execute(
            files.insert().values(
                id=record.id,
                owner=record.owner,
                sha256=record.sha256,
                filename=record.filename,
                purpose=record.purpose,
                bytes=record.bytes,
                created_at=record.created_at,
                expires_at=record.expires_at,
            )
        )

    def _get_file(self, conn: Connection, file_id: str, owner: str) -> StoredFile | None:
        row = conn.execute(
            _select_files().where(files.c.id == file_id, files.c.owner == owner, _alive(int(time.time())))
        ).one_or_none()
        return _from_row(row) if row is not None else None

    def _get_files(self, conn: Connection, file_ids: list[str], owner: str) -> dict[str, StoredFile]:
        rows = conn.execute(
            _select_files().where(files.c.id.in_(file_ids), files.c.owner == owner, _alive(int(time.time())))
        ).all()
        return {file.id: file for file in map(_from_row, rows)}

    def _get_chunk(self, conn: Connection, sha256: str, seq: int) -> bytes | None:
        data = conn.execute(
            select(file_chunks.c.data).where(file_chunks.c.sha256 == sha256, file_chunks.c.seq == seq)
        ).scalar_one_or_none()
        return bytes(data) if data is not None else None  # psycopg returns memoryview for BYTEA

    def _delete_file(self, conn: Connection, file_id: str, owner: str) -> bool:
        sha256 = conn.execute(
            delete(files)
            .where(files.c.id == file_id, files.c.owner == owner, _alive(int(time.time())))
            .returning(files.c.sha256)
        ).scalar_one_or_none()
        if sha256 is None:
            return False
        _delete_unnamed_blobs(conn, file_blobs.c.sha256 == sha256)
        return True

    def _list_files(
        self,
        conn: Connection,
        owner: str,
        limit: int,
        after: str | None,
        order: str,
        purpose: str | None,
        sort: FileSort,
    ) -> FilePage:
        column = files.c[sort]
        where = [files.c.owner == owner, _alive(int(time.time()))]
        if purpose is not None:
            where.append(files.c.purpose == purpose)
        if after is not None:
            anchor = conn.execute(select(column).where(files.c.id == after, files.c.owner == owner)).one_or_none()
            if anchor is None:
                raise InvalidRequest(
                    f"after={after!r} names no file of this API key; pass the id of the last file of the previous "
                    "page.",
                    param="after",
                )
            key, anchor_key = tuple_(column, files.c.id), tuple_(anchor[0], after)
            where.append(key > anchor_key if order == "asc" else key < anchor_key)
        ordering = [column.asc(), files.c.id.asc()] if order == "asc" else [column.desc(), files.c.id.desc()]
        rows = conn.execute(_select_files().where(*where).order_by(*ordering).limit(limit + 1)).all()
        return FilePage([_from_row(r) for r in rows[:limit]], has_more=len(rows) > limit)

    def _file_usage(self, conn: Connection, owner: str) -> tuple[int, int]:
        count, total = conn.execute(
            select(func.count(), func.coalesce(func.sum(files.c.bytes), 0)).where(
                files.c.owner == owner, _alive(int(time.time()))
            )
        ).one()
        return int(count), int(total)

    def purge(self, conn: Connection, now: int) -> int:
        """Delete files expired at ``now`` and every blob no file names; return files deleted."""
        deleted = conn.execute(delete(files).where(files.c.expires_at.is_not(None), files.c.expires_at <= now))
        _delete_unnamed_blobs(conn, None)
        return deleted.rowcount


def _select_files() -> Any:
    """``files`` rows with their blob's image header (kept per sha256, read at upload)."""
    return select(files, *_IMAGE_COLUMNS).select_from(files.join(file_blobs, file_blobs.c.sha256 == files.c.sha256))


_IMAGE_COLUMNS = (
    file_blobs.c.image_mime,
    file_blobs.c.image_width,
    file_blobs.c.image_height,
    file_blobs.c.image_orientation,
)


def _image_columns(image: ImageHeader | None) -> dict[str, Any]:
    if image is None:
        return {}
    return {
        "image_mime": image.mime,
        "image_width": image.width,
        "image_height": image.height,
        "image_orientation": image.orientation,
    }


def _alive(now: int) -> Any:
    return or_(files.c.expires_at.is_(None), files.c.expires_at > now)


def _delete_unnamed_blobs(conn: Connection, which: Any) -> None:
    """Delete blobs (chunks cascade) that no file names; one racing a new link is left for the next purge."""
    named = exists().where(files.c.sha256 == file_blobs.c.sha256)
    condition = ~named if which is None else and_(which, ~named)
    try:
        with conn.begin_nested():
            conn.execute(
                delete(file_chunks).where(file_chunks.c.sha256.in_(select(file_blobs.c.sha256).where(condition)))
            )
            conn.execute(delete(file_blobs).where(condition))
    except IntegrityError:
        pass  # a concurrent upload linked the same bytes meanwhile: they stay


def _check_quota(limits: FileLimits, count: int, used: int, adding: int) -> None:
    if limits.quota_count is not None and count + 1 > limits.quota_count:
        raise QuotaExceeded(
            f"This API key already stores {count} files, its quota (file_quota_count) is {limits.quota_count}. "
            "Delete files you no longer need (DELETE /v1/files/{id})."
        )
    if limits.quota_bytes is not None and used + adding > limits.quota_bytes:
        raise QuotaExceeded(
            f"This upload ({describe_size(adding)}) would pass the API key's file storage quota "
            f"(file_quota_bytes {describe_size(limits.quota_bytes)}, {describe_size(used)} used). "
            "Delete files you no longer need (DELETE /v1/files/{id})."
        )


def _from_row(row: Row[Any]) -> StoredFile:
    m = row._mapping
    return StoredFile(
        id=m["id"],
        owner=m["owner"],
        filename=m["filename"],
        purpose=m["purpose"],
        bytes=int(m["bytes"]),
        sha256=m["sha256"],
        created_at=int(m["created_at"]),
        expires_at=int(m["expires_at"]) if m["expires_at"] is not None else None,
        image=_image_from(m),
    )


def _image_from(m: Any) -> ImageHeader | None:
    if m.get("image_mime") is None:
        return None
    return ImageHeader(m["image_mime"], int(m["image_width"]), int(m["image_height"]), int(m["image_orientation"]))
