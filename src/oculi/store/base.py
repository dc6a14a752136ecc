"""The response store interface, injected into the service (SQLite / PostgreSQL in ``sql.py``).

A ``StoredResponse`` is one finished (or pending, for deferred requests)
generation: the full conversation that produced it (earlier turns included,
images as ``stored:<sha256>`` references), its output and usage. Images are
kept once per content hash in their own table. Records are scoped to an
owner (a hash of the API key, never the key) and expire after the retention.
Writes are durable when the call returns (nothing acknowledged is lost).

Files (the Files API, also batch input/output): a ``StoredFile`` is one
upload, owned by one key; its bytes are kept once per sha256 however often
they are uploaded (by any key) and go when the last file naming them goes.
``put_file`` takes the content as an async stream and never holds it whole
in memory (spooled to a temporary file, stored in chunks); ``FileLimits``
are enforced while the stream is read, so an over-size upload is refused
at the limit, not after it has been received.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any, Literal, Protocol

from oculi.domain import Choice, Conversation, GenerationParams, ImageHeader, Usage


class ResponseStatus(StrEnum):
    """Lifecycle of a stored response."""

    IN_PROGRESS = "in_progress"  # deferred and not finished yet
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass
class StoredResponse:
    """One stored generation (see module docstring)."""

    id: str
    owner: str
    model: str
    created_at: int
    expires_at: int
    status: ResponseStatus
    surface: str  # the API that created it: "responses", "chat", "grpc"
    conversation: Conversation  # all input, earlier turns included
    params: GenerationParams = field(default_factory=GenerationParams)
    choices: list[Choice] = field(default_factory=list)
    usage: Usage | None = None
    previous_response_id: str | None = None
    error: dict[str, Any] | None = None  # {"code", "error"} when FAILED
    metadata: dict[str, Any] = field(default_factory=dict)  # surface-specific extras (instructions, ...)

    @property
    def output_conversation(self) -> Conversation:
        """The conversation plus this response's first choice (text, tool calls, reasoning) as the assistant turn."""
        from oculi.domain import Message, Part, Role, TextPart

        if not self.choices:
            return self.conversation
        choice = self.choices[0]
        parts: list[Part] = [TextPart(choice.text)] if choice.text or not choice.tool_calls else []
        turn = Message(Role.ASSISTANT, parts, list(choice.tool_calls), reasoning=choice.reasoning)
        return self.conversation + Conversation([turn])


@dataclass(frozen=True)
class StoredFile:
    """One uploaded file's metadata (its bytes are read with ``Store.iter_file_content``)."""

    id: str  # "file-<32 hex>"
    owner: str
    filename: str
    purpose: str  # as the uploader said ("assistants", "batch", "vision", "user_data", ...)
    bytes: int
    sha256: str
    created_at: int
    expires_at: int | None  # None: kept until deleted
    image: ImageHeader | None = None  # read at upload when the bytes are a JPEG/PNG image


@dataclass(frozen=True)
class FileLimits:
    """What one upload may add: its own size, and the owner's totals (None: unlimited)."""

    max_bytes: int
    quota_bytes: int | None = None
    quota_count: int | None = None


@dataclass(frozen=True)
class FilePage:
    """One page of ``list_files``; ``has_more`` when another page follows."""

    files: list[StoredFile]
    has_more: bool


FileSort = Literal["created_at", "filename", "bytes"]


@dataclass
class Spooled:
    """An upload's bytes in a temporary file (deleted on close), with their size and sha256."""

    file: IO[bytes]
    size: int
    sha256: str


class Store(Protocol):
    """Durable storage for responses, deferred requests and their images."""

    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent; safe with several replicas)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return once the store answers a trivial query (readiness); ``Unavailable`` when it does not."""
        ...

    async def put_images(self, images: dict[str, bytes]) -> None:
        """Keep each image once under its sha256 (existing hashes are left alone)."""
        ...

    async def get_image(self, sha256: str) -> bytes | None: ...

    async def image_sizes(self, hashes: list[str]) -> dict[str, int]:
        """The byte size of each image stored under one of ``hashes`` (absent ones left out), without its bytes."""
        ...

    async def put_response(self, response: StoredResponse) -> None:
        """Insert or replace a response (replace is how a deferred request completes)."""
        ...

    async def get_response(self, response_id: str, owner: str) -> StoredResponse | None:
        """The response if it exists, belongs to ``owner`` and has not expired."""
        ...

    async def delete_response(self, response_id: str, owner: str) -> bool:
        """Delete; False when there was nothing of ``owner``'s to delete."""
        ...

    async def purge_expired(self, now: int) -> int:
        """Delete expired responses and images no response references (and expired files); return responses deleted."""
        ...

    # --- files ---------------------------------------------------------------------

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
        """Store a new file read from ``content``; durable when this returns.

        Raises ``PayloadTooLarge`` as soon as more than ``limits.max_bytes``
        arrive and ``QuotaExceeded`` when the owner's files would pass the
        quota (checked before, while and after reading; the last check is
        atomic with the insert, so concurrent uploads cannot both slip in).
        """
        ...

    async def spool_upload(self, owner: str, content: AsyncIterable[bytes], *, limits: FileLimits) -> Spooled:
        """First half of ``put_file``: ``content`` into a temporary file, limits enforced while reading.

        For surfaces that learn a file's metadata only after its bytes (a
        multipart form whose ``purpose`` follows the file). Close
        ``Spooled.file`` when done.
        """
        ...

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
        """
        ...

    async def get_file(self, file_id: str, owner: str) -> StoredFile | None:
        """The file if it exists, belongs to ``owner`` and has not expired."""
        ...

    async def get_files(self, file_ids: list[str], owner: str) -> dict[str, StoredFile]:
        """``get_file`` for several ids in one read: the ones that exist, by id."""
        ...

    async def set_file_image(self, sha256: str, image: ImageHeader) -> None:
        """Keep the image header of bytes stored before headers were (a no-op when one is kept already)."""
        ...

    def iter_file_content(self, file: StoredFile) -> AsyncIterator[bytes]:
        """The bytes of ``file`` (from ``get_file``) in chunks; ``FileNotFound`` if deleted meanwhile."""
        ...

    async def read_file(self, file_id: str, owner: str) -> tuple[StoredFile, bytes]:
        """Metadata and whole content of a (small) file; ``FileNotFound`` when ``get_file`` has none."""
        ...

    async def delete_file(self, file_id: str, owner: str) -> bool:
        """Delete; False when there was nothing of ``owner``'s to delete. Unshared bytes go at once."""
        ...

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
        ...

    async def file_usage(self, owner: str) -> tuple[int, int]:
        """``(count, total bytes)`` of ``owner``'s unexpired files (what the quota counts)."""
        ...
