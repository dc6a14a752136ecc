"""The response store interface, injected into the service (SQLite / PostgreSQL in ``sql.py``).

A ``StoredResponse`` is one finished (or pending, for deferred requests)
generation: the full conversation that produced it (earlier turns included,
images as ``stored:<sha256>`` references), its output and usage. Images are
kept once per content hash in their own table. Records are scoped to an
owner (a hash of the API key, never the key) and expire after the retention.
Writes are durable when the call returns (nothing acknowledged is lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from oculi.domain import Choice, Conversation, GenerationParams, Usage


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
        """The conversation plus this response's first choice (text and tool calls) as the assistant turn."""
        from oculi.domain import Message, Part, Role, TextPart

        if not self.choices:
            return self.conversation
        choice = self.choices[0]
        parts: list[Part] = [TextPart(choice.text)] if choice.text or not choice.tool_calls else []
        return self.conversation + Conversation([Message(Role.ASSISTANT, parts, list(choice.tool_calls))])


class Store(Protocol):
    """Durable storage for responses, deferred requests and their images."""

    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent; safe with several replicas)."""
        ...

    async def close(self) -> None: ...

    async def put_images(self, images: dict[str, bytes]) -> None:
        """Keep each image once under its sha256 (existing hashes are left alone)."""
        ...

    async def get_image(self, sha256: str) -> bytes | None: ...

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
        """Delete expired responses and images no response references; return responses deleted."""
        ...
