"""``FileService``: the Files API's rules on top of the store, shared by REST, gRPC, intake and batches.

The store keeps bytes and enforces what it is given; this module decides
what it is given (``settings``: size limit, per-key quota, retention) and
turns "nothing there" into ``FileNotFound`` naming the id. Every surface
calls it, so a file behaves the same over REST and gRPC:

    upload(owner, filename, purpose, chunks)   → StoredFile   (413 / 429 while streaming)
    write_output(owner, filename, purpose, ...) → StoredFile   (server-written, e.g. batch results)
    spool(...) then store_spooled(...)          the same in two steps (metadata known after the bytes)
    get / delete / list / content               → 404 for another key's, deleted or expired files
    image_files(owner, parts) / image_file      → ``FileImage``s for admission and intake (size and
                                                  header from the store, bytes read on demand)

An upload that is a JPEG or PNG has its header (type, upright size, EXIF
orientation) read once, from the spooled bytes, and kept with them: a
request naming the file is then charged its real size and decoded cost
before any byte of it is read, exactly as the same image sent inline.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from functools import partial
from typing import Literal

from oculi.domain import ImageHeader, ImagePart
from oculi.errors import FileNotFound, ImageError, ImageTooLarge, InvalidRequest
from oculi.intake.decode import check_type, read_header, sniff_type
from oculi.intake.types import FileImage
from oculi.settings import Settings
from oculi.store.base import FileLimits, FilePage, FileSort, Spooled, StoredFile
from oculi.store.files import FileStore
from oculi.store.spool import describe_size

DAY_S = 86_400
#: What ``purpose`` may say (the openai client's ``FilePurpose``); the hosted xAI API does not interpret it.
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
#: Purposes of files the server itself writes for a key (e.g. a batch's results), never uploaded.
OUTPUT_PURPOSES = ("batch_output",)
DEFAULT_PURPOSE = "assistants"
#: The hosted API's bounds for ``expires_after`` (seconds from upload).
MIN_EXPIRES_AFTER, MAX_EXPIRES_AFTER = 3600, 30 * DAY_S
MAX_FILENAME_CHARS = 255
MAX_LIST_LIMIT = 10_000


class FileService:
    """See module docstring; one per server (``Runtime.files``)."""

    def __init__(self, store: FileStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    @property
    def limits(self) -> FileLimits:
        """Per-upload size and per-key quota from the settings."""
        s = self.settings
        return FileLimits(max_bytes=s.max_file_bytes, quota_bytes=s.file_quota_bytes, quota_count=s.file_quota_count)

    async def upload(
        self,
        owner: str,
        filename: str,
        purpose: str | None,
        content: AsyncIterable[bytes],
        *,
        expires_after: int | None = None,
    ) -> StoredFile:
        """Store a new file of ``owner`` read from ``content`` (400 / 413 / 429 as the checks fail)."""
        check_filename(filename)
        purpose = check_purpose(purpose)
        expires_at = self.expires_at(expires_after)
        spooled = await self.spool(owner, content)
        try:
            image = await self.image_header(spooled)
            return await self.store.put_spooled(
                owner, filename, purpose, spooled, limits=self.limits, expires_at=expires_at, image=image
            )
        finally:
            await asyncio.to_thread(spooled.file.close)

    async def write_output(
        self, owner: str, filename: str, purpose: str, content: AsyncIterable[bytes], *, expires_at: int | None = None
    ) -> StoredFile:
        """A file the server writes for ``owner`` (batch results): no size limit or quota, so work done is kept.

        ``purpose`` is one of ``OUTPUT_PURPOSES``; the file is then listed,
        read and deleted like any upload of that key.
        """
        if purpose not in OUTPUT_PURPOSES:
            raise ValueError(f"write_output: purpose {purpose!r} is not one of {OUTPUT_PURPOSES}")
        limits = FileLimits(max_bytes=sys.maxsize)
        return await self.store.put_file(owner, filename, purpose, content, limits=limits, expires_at=expires_at)

    async def spool(self, owner: str, content: AsyncIterable[bytes]) -> Spooled:
        """An upload's bytes in a temporary file, refused at the size limit or the quota (close it after)."""
        return await self.store.spool_upload(owner, content, limits=self.limits)

    async def store_spooled(
        self, owner: str, filename: str, purpose: str | None, spooled: Spooled, *, expires_after: int | None = None
    ) -> StoredFile:
        """Store what ``spool`` read, once the metadata is known (a multipart form's fields may follow the file)."""
        check_filename(filename)
        purpose = check_purpose(purpose)
        expires_at = self.expires_at(expires_after)
        image = await self.image_header(spooled)
        return await self.store.put_spooled(
            owner, filename, purpose, spooled, limits=self.limits, expires_at=expires_at, image=image
        )

    async def image_header(self, spooled: Spooled) -> ImageHeader | None:
        """The header of an upload that is a usable JPEG/PNG image; None for anything else (any file is welcome)."""
        if not 0 < spooled.size <= self.settings.max_image_bytes:
            return None
        return await asyncio.to_thread(_read_image_header, spooled, self.settings.max_image_pixels)

    def expires_at(self, expires_after: int | None) -> int | None:
        """When a file uploaded now expires: ``expires_after`` (checked), else the retention setting."""
        now = int(time.time())
        if expires_after is not None:
            check_expires_after(expires_after)
            return now + expires_after
        if self.settings.file_retention_days > 0:
            return now + int(self.settings.file_retention_days * DAY_S)
        return None

    async def get(self, owner: str, file_id: str, *, param: str | None = "file_id") -> StoredFile:
        """The file, or 404 ``FileNotFound`` naming ``file_id``."""
        file = await self.store.get_file(file_id, owner) if file_id else None
        if file is None:
            raise FileNotFound(file_id, param=param)
        return file

    async def content(self, owner: str, file_id: str) -> tuple[StoredFile, AsyncIterator[bytes]]:
        """The file and its bytes as a chunk stream (404 checked before the first chunk)."""
        file = await self.get(owner, file_id)
        return file, self.store.iter_file_content(file)

    async def delete(self, owner: str, file_id: str) -> None:
        """Delete ``owner``'s file (404 when there is none)."""
        if not await self.store.delete_file(file_id, owner):
            raise FileNotFound(file_id)

    async def list(
        self,
        owner: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: Literal["asc", "desc"] = "desc",
        purpose: str | None = None,
        sort: FileSort = "created_at",
    ) -> FilePage:
        """One page of ``owner``'s files (``limit`` 1..10000, default 10000 like the openai API)."""
        if limit is None:
            limit = MAX_LIST_LIMIT
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}.", param="limit")
        return await self.store.list_files(owner, limit=limit, after=after, order=order, purpose=purpose, sort=sort)

    async def image_file(self, owner: str, file_id: str, *, index: int | None = None) -> FileImage:
        """One file named as an image: 404 if not ``owner``'s, 400 if over the image limit (before reading)."""
        return self._as_image(await self.get(owner, file_id, param=None), index)

    async def image_files(self, owner: str, parts: Sequence[ImagePart]) -> dict[str, FileImage]:
        """Every file ``parts`` name as images, read from the store in one query, by file id.

        Checked as ``image_file`` does, naming the first offending image's
        position in ``parts``; no byte of any file is read here.
        """
        wanted = [(i, fid) for i, p in enumerate(parts) if (fid := p.file_id) is not None]
        if not wanted:
            return {}
        found = await self.store.get_files(sorted({fid for _, fid in wanted}), owner)
        images: dict[str, FileImage] = {}
        for index, file_id in wanted:
            file = found.get(file_id)
            if file is None:
                raise FileNotFound(file_id, param=None)
            images[file_id] = self._as_image(file, index)
        return images

    def _as_image(self, file: StoredFile, index: int | None) -> FileImage:
        limit = self.settings.max_image_bytes
        if file.bytes > limit:
            raise ImageTooLarge(
                f"file '{file.id}' is {describe_size(file.bytes)}, over the {describe_size(limit)} limit for "
                "an image. Upload a smaller image.",
                index=index,
            )
        remember = partial(self.store.set_file_image, file.sha256) if file.image is None else None
        return FileImage(file.id, file.sha256, file.bytes, file.image, partial(self._read, file), remember)

    async def _read(self, file: StoredFile) -> bytes:
        _, data = await self.store.read_file(file.id, file.owner)
        return data


def _read_image_header(spooled: Spooled, max_pixels: int) -> ImageHeader | None:
    """Blocking: the spooled upload's image header, or None when it is not a readable JPEG/PNG."""
    spooled.file.seek(0)
    if sniff_type(spooled.file.read(16)) not in ("JPEG", "PNG"):
        return None  # not an image: nothing more is read
    spooled.file.seek(0)
    data = spooled.file.read()
    try:
        return read_header(data, check_type(data), max_pixels=max_pixels)
    except ImageError:
        return None  # refused when used as an image, with the reason, as an inline image would be


def check_filename(filename: str) -> None:
    """A file needs a name a person can recognise (the hosted API records the upload's filename)."""
    if not filename or len(filename) > MAX_FILENAME_CHARS:
        raise InvalidRequest(
            f"The file needs a filename of 1 to {MAX_FILENAME_CHARS} characters (got {len(filename)}).",
            param="file",
        )


def check_purpose(purpose: str | None) -> str:
    """``purpose`` if it is one the openai client sends; the default when absent (optional on xAI)."""
    if purpose is None or purpose == "":
        return DEFAULT_PURPOSE
    if purpose not in PURPOSES:
        raise InvalidRequest(
            f"purpose {purpose!r} is not supported; use one of: {', '.join(PURPOSES)}.", param="purpose"
        )
    return purpose


def check_expires_after(seconds: int) -> None:
    """The hosted API's bounds: between one hour and 30 days."""
    if not MIN_EXPIRES_AFTER <= seconds <= MAX_EXPIRES_AFTER:
        raise InvalidRequest(
            f"expires_after must be between {MIN_EXPIRES_AFTER} (1 hour) and {MAX_EXPIRES_AFTER} (30 days) "
            f"seconds, got {seconds}.",
            param="expires_after",
        )
