"""The store's Batches part: the ``batches`` table and reads of a batch's jobs.

A batch is a row (owner, name, surface-specific ``metadata``, ``cancelled_at``)
and the jobs whose ``batch_id`` names it; its counts are grouped from those
jobs on every read, so they are right whichever replica ran what. Cancelling
turns the batch's pending jobs into ``cancelled`` in the same transaction
(running ones finish).

The completion window: past ``deadline_at`` a batch is *closed* once
(``close_due_batches``, run at the start of every job claim, so no replica starts a
request of an overdue batch, and before an overdue batch is read): its
pending requests, and running ones whose worker died (lease lapsed), become
``expired`` and are never run; running ones with a live lease finish and
keep their results. ``expired_at`` is set when anything expired; a batch
that finished in time is only closed.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from oculi.store.database import Database
from oculi.store.job_model import (
    BatchCounts,
    BatchNotFound,
    BatchRecord,
    Job,
    JobState,
    batch_from_row,
    dumps,
    job_from_row,
    now_ms,
)
from oculi.store.job_tables import batches, job_images, jobs


class BatchStore:
    """Batches on the store's ``Database`` (see module docstring); the jobs themselves are ``JobQueue``'s."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def expires_at_for(self, created_at: int) -> int:
        """When a batch created at ``created_at`` goes (the store's retention)."""
        return self.db.expires_at_for(created_at)

    async def create_batch(self, batch: BatchRecord) -> None:
        """Insert a new, empty batch."""
        row = {
            "id": batch.id,
            "owner": batch.owner,
            "name": batch.name,
            "created_at": batch.created_at,
            "expires_at": batch.expires_at,
            "cancelled_at": None,
            "metadata": dumps(batch.metadata),
            "deadline_at": batch.deadline_at,
        }
        await self.db.run(lambda c: c.execute(insert(batches).values(row)), write=True, what="creating a batch")

    async def update_batch_metadata(self, batch_id: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Replace a batch's surface-specific metadata if it is still ``old`` (compare-and-set); True if done.

        Lets one replica, and only one, take a step such as writing a REST
        batch's output files.
        """
        stmt = (
            update(batches)
            .where(batches.c.id == batch_id, batches.c.metadata == dumps(old))
            .values(metadata=dumps(new))
        )
        done = await self.db.run(lambda c: c.execute(stmt).rowcount, write=True, what="updating a batch")
        return bool(done)

    async def close_due(self) -> int:
        """Close every batch past its deadline (see module docstring); return how many requests expired."""
        return await self.db.run(
            lambda c: close_due_batches(c, int(time.time())), write=True, what="closing overdue batches"
        )

    async def cancel_batch(self, batch_id: str, owner: str) -> BatchRecord:
        """Cancel every pending request of the batch (running ones finish); return the batch."""
        return await self.db.run(self._cancel_batch, batch_id, owner, write=True, what="cancelling a batch")

    async def get_batch(self, batch_id: str, owner: str) -> BatchRecord:
        """The caller's batch with its counts, or ``BatchNotFound``."""
        return await self.db.run(self._get_batch, batch_id, owner, write=False, what="reading a batch")

    async def list_batches(
        self, owner: str, *, limit: int, offset: int = 0, after: str | None = None
    ) -> list[BatchRecord]:
        """The caller's unexpired batches, newest first: from ``offset``, or after the batch ``after``."""
        return await self.db.run(self._list_batches, owner, limit, offset, after, write=False, what="listing batches")

    async def list_jobs(
        self,
        batch_id: str,
        owner: str,
        *,
        limit: int,
        after_seq: int = -1,
        states: tuple[JobState, ...] = (),
    ) -> list[Job]:
        """Requests of the caller's batch in arrival order, after ``after_seq``, optionally only ``states``."""
        return await self.db.run(
            self._list_jobs, batch_id, owner, limit, after_seq, states, write=False, what="listing batch requests"
        )

    async def get_job(self, batch_id: str, request_key: str, owner: str) -> Job:
        """One request of the caller's batch by its ``batch_request_id``, or ``BatchNotFound``."""
        return await self.db.run(
            self._get_job, batch_id, request_key, owner, write=False, what="reading a batch request"
        )

    # --- blocking implementations ------------------------------------------------------------

    def _cancel_batch(self, conn: Connection, batch_id: str, owner: str) -> BatchRecord:
        record = self._get_batch(conn, batch_id, owner)
        if record.cancelled_at is None:
            now = int(time.time())
            conn.execute(update(batches).where(batches.c.id == batch_id).values(cancelled_at=now))
            pending = and_(jobs.c.batch_id == batch_id, jobs.c.state == JobState.PENDING.value)
            doomed = select(jobs.c.id).where(pending).scalar_subquery()
            conn.execute(delete(job_images).where(job_images.c.job_id.in_(doomed)))
            conn.execute(update(jobs).where(pending).values(state=JobState.CANCELLED.value, finished_at=now))
        return self._get_batch(conn, batch_id, owner)

    def _get_batch(self, conn: Connection, batch_id: str, owner: str) -> BatchRecord:
        row = conn.execute(
            select(batches).where(
                batches.c.id == batch_id, batches.c.owner == owner, batches.c.expires_at > int(time.time())
            )
        ).one_or_none()
        if row is None:
            raise BatchNotFound(
                f"No batch with id '{batch_id}' for this API key (it may have expired).", param="batch_id"
            )
        record = batch_from_row(row)
        record.counts = self._counts(conn, [batch_id]).get(batch_id, BatchCounts())
        return record

    def _list_batches(
        self, conn: Connection, owner: str, limit: int, offset: int, after: str | None
    ) -> list[BatchRecord]:
        query = select(batches).where(batches.c.owner == owner, batches.c.expires_at > int(time.time()))
        if after is not None:
            created = self._get_batch(conn, after, owner).created_at
            query = query.where(
                or_(batches.c.created_at < created, and_(batches.c.created_at == created, batches.c.id > after))
            )
        rows = conn.execute(query.order_by(batches.c.created_at.desc(), batches.c.id).limit(limit).offset(offset)).all()
        records = [batch_from_row(row) for row in rows]
        counts = self._counts(conn, [r.id for r in records])
        for record in records:
            record.counts = counts.get(record.id, BatchCounts())
        return records

    def _counts(self, conn: Connection, batch_ids: list[str]) -> dict[str, BatchCounts]:
        out: dict[str, BatchCounts] = {}
        if not batch_ids:
            return out
        grouped = conn.execute(
            select(jobs.c.batch_id, jobs.c.state, func.count())
            .where(jobs.c.batch_id.in_(batch_ids))
            .group_by(jobs.c.batch_id, jobs.c.state)
        ).all()
        for batch_id, state, count in grouped:
            counts = out.setdefault(batch_id, BatchCounts())
            counts.total += count
            if state in (JobState.PENDING.value, JobState.RUNNING.value):
                counts.pending += count
            else:
                setattr(counts, state, getattr(counts, state) + count)
        return out

    def _list_jobs(
        self,
        conn: Connection,
        batch_id: str,
        owner: str,
        limit: int,
        after_seq: int,
        states: tuple[JobState, ...],
    ) -> list[Job]:
        self._get_batch(conn, batch_id, owner)
        query = select(jobs).where(jobs.c.batch_id == batch_id, jobs.c.seq > after_seq)
        if states:
            query = query.where(jobs.c.state.in_([s.value for s in states]))
        return [job_from_row(row) for row in conn.execute(query.order_by(jobs.c.seq).limit(limit)).all()]

    def _get_job(self, conn: Connection, batch_id: str, request_key: str, owner: str) -> Job:
        self._get_batch(conn, batch_id, owner)
        row = conn.execute(
            select(jobs).where(jobs.c.batch_id == batch_id, jobs.c.request_key == request_key)
        ).one_or_none()
        if row is None:
            raise BatchNotFound(
                f"Batch '{batch_id}' has no request with batch_request_id '{request_key}'.", param="batch_request_id"
            )
        return job_from_row(row)


def close_due_batches(conn: Connection, now: int) -> int:
    """Close every batch past its deadline at ``now`` (see module docstring); return how many requests expired."""
    due = list(
        conn.execute(
            select(batches.c.id).where(
                batches.c.closed_at.is_(None), batches.c.deadline_at.is_not(None), batches.c.deadline_at <= now
            )
        ).scalars()
    )
    if not due:
        return 0
    unstarted = and_(
        jobs.c.batch_id.in_(due),
        or_(
            jobs.c.state == JobState.PENDING.value,
            and_(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at < now_ms()),
        ),
    )
    doomed = select(jobs.c.id).where(unstarted).scalar_subquery()
    conn.execute(delete(job_images).where(job_images.c.job_id.in_(doomed)))
    expired = conn.execute(
        update(jobs)
        .where(unstarted)
        .values(state=JobState.EXPIRED.value, finished_at=now, lease_owner=None, lease_expires_at=None)
        .returning(jobs.c.batch_id)
    ).all()
    hit = {row[0] for row in expired}
    open_ = and_(batches.c.id.in_(due), batches.c.closed_at.is_(None))
    conn.execute(update(batches).where(open_, batches.c.id.in_(hit)).values(closed_at=now, expired_at=now))
    conn.execute(update(batches).where(open_).values(closed_at=now))
    return len(expired)
