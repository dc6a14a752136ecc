"""The store's records: stored responses and files, with the limits and pages the Files part uses.

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

from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any, Literal

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
    """One uploaded file's metadata (its bytes are read with ``FileStore.iter_file_content``)."""

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
