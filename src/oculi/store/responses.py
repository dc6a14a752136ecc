"""Stored responses and their content-addressed images (SPEC §4), one part of the ``Store``.

Images are content-addressed: ``put_images`` stores each sha256 once (insert
if absent) and refreshes ``last_used_at`` of those already there;
``put_response`` links the response to every ``stored:<sha256>`` image of its
conversation (``response_images``). ``purge`` deletes expired responses
(their links cascade) and then images that no response or waiting job links
to and that were not used within ``image_grace_s``: the grace keeps images a
caller has just put, and is about to reference from a response still being
generated, from being collected in between. Callers therefore ``put_images``
every image of a conversation (stored ones included) before generating, then
``put_response``.

Expired responses are invisible to ``get_response`` / ``delete_response`` at
once; their rows go at the next purge.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from sqlalchemy import Connection, Row, delete, exists, func, select, update

from oculi.domain import Choice, Conversation, GenerationParams, Usage
from oculi.store.base import ResponseStatus, StoredResponse
from oculi.store.database import Database
from oculi.store.job_tables import job_images
from oculi.store.schema import images as images_table
from oculi.store.schema import response_images, responses


class ResponseStore:
    """Responses and images on the store's ``Database`` (see module docstring)."""

    def __init__(self, db: Database, *, image_grace_s: int = 3600) -> None:
        self.db = db
        self.image_grace_s = image_grace_s

    async def check_available(self) -> None:
        """Refuse at once (``StoreUnavailable``) while the database is known to be down and still does not answer.

        A request that will store its answer calls this first, so during an
        outage it gets its 503 before the model runs, not after.
        """
        if not self.db.available:
            await self.db.ping()

    # --- images ------------------------------------------------------------------

    async def put_images(self, images: dict[str, bytes]) -> None:
        """Keep each image once under its sha256; existing ones are left alone but marked used now.

        A key that is not the sha256 hex digest of its bytes is a caller bug (``ValueError``).
        """
        if images:
            await self.db.run(self._put_images, images, write=True, what="storing images")

    async def get_image(self, sha256: str) -> bytes | None:
        """The bytes stored under ``sha256``, or None."""
        return await self.db.run(self._get_image, sha256, write=False, what="reading an image")

    async def image_sizes(self, hashes: list[str]) -> dict[str, int]:
        """The byte size of each image stored under one of ``hashes`` (absent ones left out), without its bytes.

        Admission charges a stored conversation's images by them.
        """
        if not hashes:
            return {}
        return await self.db.run(self._image_sizes, hashes, write=False, what="reading image sizes")

    # --- responses ------------------------------------------------------------------

    async def put_response(self, response: StoredResponse) -> None:
        """Insert or replace ``response`` (replace is how a deferred request completes).

        Every ``stored:<sha256>`` image of its conversation must already be in the
        store (``put_images`` first); a missing one, or replacing another owner's
        response, is a caller bug (``ValueError``).
        """
        await self.db.run(self.write_response, response, write=True, what="storing a response")

    async def get_response(self, response_id: str, owner: str) -> StoredResponse | None:
        """The response if it exists, belongs to ``owner`` and has not expired."""
        return await self.db.run(self._get_response, response_id, owner, write=False, what="reading a response")

    async def delete_response(self, response_id: str, owner: str) -> bool:
        """Delete; False when there was nothing of ``owner``'s (and unexpired) to delete."""
        return await self.db.run(self._delete_response, response_id, owner, write=True, what="deleting a response")

    # --- blocking implementations (run in the executor, also inside other parts' transactions) ------------

    def write_response(self, conn: Connection, response: StoredResponse) -> None:
        """``put_response`` on an open transaction (the job queue writes a deferred record with its job)."""
        refs = sorted({h for p in response.conversation.images() if (h := p.stored_sha256) is not None})
        if refs:
            present = set(conn.execute(select(images_table.c.sha256).where(images_table.c.sha256.in_(refs))).scalars())
            if missing := [h for h in refs if h not in present]:
                raise ValueError(f"put_response {response.id}: images not in the store (put_images first): {missing}")
            conn.execute(
                update(images_table).where(images_table.c.sha256.in_(refs)).values(last_used_at=int(time.time()))
            )
        row = _to_row(response)
        stmt = self.db.insert(responses).values(row)
        upsert = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={k: stmt.excluded[k] for k in row if k != "id"},
            where=responses.c.owner == stmt.excluded.owner,
        )
        # RETURNING rather than rowcount: psycopg reports -1 for a conflict whose WHERE is false.
        if conn.execute(upsert.returning(responses.c.id)).first() is None:
            raise ValueError(f"put_response {response.id}: that id is taken by another owner's response")
        conn.execute(delete(response_images).where(response_images.c.response_id == response.id))
        if refs:
            conn.execute(response_images.insert(), [{"response_id": response.id, "sha256": h} for h in refs])

    def purge(self, conn: Connection, now: int) -> int:
        """Delete responses expired at ``now`` and unreferenced images idle past the grace; count responses.

        Run after the jobs' purge: a waiting job keeps its images (``job_images``).
        """
        deleted = conn.execute(delete(responses).where(responses.c.expires_at <= now)).rowcount
        referenced = exists().where(response_images.c.sha256 == images_table.c.sha256)
        needed_by_job = exists().where(job_images.c.sha256 == images_table.c.sha256)
        conn.execute(
            delete(images_table).where(
                ~referenced, ~needed_by_job, images_table.c.last_used_at < now - self.image_grace_s
            )
        )
        return deleted

    def _put_images(self, conn: Connection, images: dict[str, bytes]) -> None:
        for sha256, data in images.items():
            if hashlib.sha256(data).hexdigest() != sha256:
                raise ValueError(f"put_images: key {sha256!r} is not the sha256 hex digest of its bytes")
        now = int(time.time())
        hashes = sorted(images)
        present = set(conn.execute(select(images_table.c.sha256).where(images_table.c.sha256.in_(hashes))).scalars())
        if present:
            conn.execute(update(images_table).where(images_table.c.sha256.in_(present)).values(last_used_at=now))
        missing = [h for h in hashes if h not in present]
        if missing:
            # Another process may insert the same hash meanwhile: the bytes are identical, keep theirs.
            rows = [{"sha256": h, "data": images[h], "created_at": now, "last_used_at": now} for h in missing]
            conn.execute(self.db.insert(images_table).on_conflict_do_nothing(index_elements=["sha256"]), rows)

    def _get_image(self, conn: Connection, sha256: str) -> bytes | None:
        data = conn.execute(select(images_table.c.data).where(images_table.c.sha256 == sha256)).scalar_one_or_none()
        return bytes(data) if data is not None else None  # psycopg returns memoryview for BYTEA

    def _image_sizes(self, conn: Connection, hashes: list[str]) -> dict[str, int]:
        size = func.length(images_table.c.data)  # bytes of a BLOB (SQLite) / BYTEA (PostgreSQL)
        rows = conn.execute(select(images_table.c.sha256, size).where(images_table.c.sha256.in_(hashes))).all()
        return {sha256: int(n) for sha256, n in rows}

    def _get_response(self, conn: Connection, response_id: str, owner: str) -> StoredResponse | None:
        row = conn.execute(
            select(responses).where(
                responses.c.id == response_id,
                responses.c.owner == owner,
                responses.c.expires_at > int(time.time()),
            )
        ).one_or_none()
        return _from_row(row) if row is not None else None

    def _delete_response(self, conn: Connection, response_id: str, owner: str) -> bool:
        result = conn.execute(
            delete(responses).where(
                responses.c.id == response_id,
                responses.c.owner == owner,
                responses.c.expires_at > int(time.time()),
            )
        )
        return result.rowcount > 0  # its response_images rows go by ON DELETE CASCADE


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _to_row(r: StoredResponse) -> dict[str, Any]:
    return {
        "id": r.id,
        "owner": r.owner,
        "model": r.model,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "status": r.status.value,
        "surface": r.surface,
        "previous_response_id": r.previous_response_id,
        "conversation": _dumps(r.conversation.to_dict()),
        "params": _dumps(r.params.to_dict()),
        "choices": _dumps([c.to_dict() for c in r.choices]),
        "usage": _dumps(r.usage.to_dict()) if r.usage is not None else None,
        "error": _dumps(r.error) if r.error is not None else None,
        "metadata": _dumps(r.metadata),
    }


def _from_row(row: Row[Any]) -> StoredResponse:
    m = row._mapping
    return StoredResponse(
        id=m["id"],
        owner=m["owner"],
        model=m["model"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        status=ResponseStatus(m["status"]),
        surface=m["surface"],
        conversation=Conversation.from_dict(json.loads(m["conversation"])),
        params=GenerationParams.from_dict(json.loads(m["params"])),
        choices=[Choice.from_dict(c) for c in json.loads(m["choices"])],
        usage=Usage.from_dict(json.loads(m["usage"])) if m["usage"] is not None else None,
        previous_response_id=m["previous_response_id"],
        error=json.loads(m["error"]) if m["error"] is not None else None,
        metadata=json.loads(m["metadata"]),
    )
