"""Durable jobs in the store: deferred completions and batch requests, claimed with leases.

A job row moves ``pending → running → succeeded | failed`` (or ``pending →
cancelled`` when its batch is cancelled). The rules that make it safe with
any number of replicas on one database (and with ``kill -9``):

- **Acknowledged = committed.** ``enqueue`` writes the job (and, for a
  deferred request, its IN_PROGRESS response record) in one transaction
  before the caller gets an id.
- **Claim with a lease.** ``claim`` picks the oldest claimable rows
  (pending, or running with an expired lease) and marks them running under
  the worker's id until ``now + lease``, adding one to ``attempts``.
  PostgreSQL selects them ``FOR UPDATE SKIP LOCKED``, so concurrent claimers
  never wait on or take each other's rows; SQLite runs the whole claim in a
  ``BEGIN IMMEDIATE`` write transaction (one writer at a time). Deferred
  requests go before batch requests (people poll them).
- **Renew while running.** ``renew`` extends the leases a worker still holds
  and tells it which it lost (taken over after it stalled past its lease).
- **Complete once.** ``complete`` writes the result only if the row is still
  running under the same worker *and attempt*; a late finisher whose lease
  was taken over writes nothing. ``completed_by`` records the one writer.
- **Windows are enforced first.** Every claim starts by closing batches
  past their completion window (``batches.py``): their requests not
  started are expired in the same transaction, so none is claimed late.
- **Bounded attempts.** A job claimed more than ``max_attempts`` times (its
  workers kept dying) is handed to the claimer only so it can be failed
  with a reason; ``attempts`` counts claims, and a graceful hand-back
  (``release``) gives its claim back.

The ``batches`` table (counts, listing, cancel) is the store's Batches part
(``batches.py``); the records and row codecs are in ``job_model.py``. A
deferred job writes its response record through the Responses part, in the
job's own transaction.

The lease clock is the database rows' ``lease_expires_at`` (milliseconds)
compared with each replica's wall clock: replicas need roughly synchronised
clocks (NTP), and the lease should be many times the clock skew.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select, update

from oculi.errors import InvalidRequest
from oculi.store.base import StoredResponse
from oculi.store.batches import close_due_batches
from oculi.store.database import Database
from oculi.store.job_model import (
    FINAL_STATES,
    BatchCounts,
    BatchNotFound,
    BatchRecord,
    Job,
    JobKind,
    JobState,
    NewJob,
    dumps,
    job_from_row,
    now_ms,
)
from oculi.store.job_tables import batches, job_images, jobs, purge_expired_jobs
from oculi.store.responses import ResponseStore
from oculi.store.schema import images as images_table

__all__ = [
    "BatchCounts",
    "BatchNotFound",
    "BatchRecord",
    "Job",
    "JobKind",
    "JobQueue",
    "JobState",
    "NewJob",
    "purge_expired_jobs",
]


class JobQueue:
    """The store's Jobs part (see module docstring); one per server process.

    ``responses``: the Responses part on the same ``Database``, which writes
    a deferred request's record in the transaction of its job.
    """

    def __init__(self, db: Database, responses: ResponseStore, *, max_attempts: int = 3) -> None:
        self.db = db
        self.responses = responses
        self.max_attempts = max_attempts
        self._seq = 0

    # --- producers ------------------------------------------------------------------

    async def enqueue(self, new: list[NewJob], *, response: StoredResponse | None = None) -> None:
        """Insert ``new`` jobs durably (with ``response``, a deferred request's IN_PROGRESS record)."""
        await self.db.run(self._enqueue, new, response, write=True, what="queueing background work")

    async def job(self, job_id: str) -> Job | None:
        """A job by id (any owner): the worker's and tests' view."""
        return await self.db.run(self._job, job_id, write=False, what="reading a job")

    async def state_counts(self) -> dict[tuple[str, str], int]:
        """``{(kind, state): count}`` over every unexpired job (for ``/metrics``)."""
        return await self.db.run(self._state_counts, write=False, what="counting jobs")

    # --- workers -------------------------------------------------------------------------

    async def claim(self, worker: str, limit: int, lease_ms: int) -> list[Job]:
        """Up to ``limit`` claimable jobs, now leased to ``worker`` for ``lease_ms``."""
        if limit <= 0:
            return []
        return await self.db.run(self._claim, worker, limit, lease_ms, write=True, what="claiming jobs")

    async def renew(self, worker: str, held: dict[str, int], lease_ms: int) -> set[str]:
        """Extend the leases ``worker`` holds (``{job id: attempt}``); return the ids it no longer holds."""
        if not held:
            return set()
        return await self.db.run(self._renew, worker, held, lease_ms, write=True, what="renewing leases")

    async def complete(
        self,
        job: Job,
        worker: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        response: StoredResponse | None = None,
    ) -> bool:
        """Write the outcome once (with ``response`` for a deferred job); False when the lease was lost."""
        return await self.db.run(
            self._complete, job, worker, state, result, error, response, write=True, what="completing a job"
        )

    async def release(self, worker: str, held: dict[str, int]) -> int:
        """Hand jobs back to the queue unfinished (graceful shutdown): their claim does not count."""
        if not held:
            return 0
        return await self.db.run(self._release, worker, held, write=True, what="handing jobs back")

    # --- blocking implementations ------------------------------------------------------------

    def _next_seq(self, count: int) -> int:
        # Microseconds keep arrival order across replicas; the counter orders one call's jobs.
        base = max(int(time.time() * 1_000_000), self._seq + 1)
        self._seq = base + count
        return base

    def _enqueue(self, conn: Connection, new: list[NewJob], response: StoredResponse | None) -> None:
        if response is not None:
            self.responses.write_response(conn, response)
        batch_ids = {j.batch_id for j in new if j.batch_id is not None}
        for batch_id in batch_ids:
            row = conn.execute(
                select(batches.c.cancelled_at, batches.c.deadline_at).where(batches.c.id == batch_id)
            ).one_or_none()
            if row is not None and row[0] is not None:
                raise InvalidRequest(f"Batch '{batch_id}' is cancelled; it takes no more requests.", param="batch_id")
            if row is not None and row[1] is not None and row[1] <= time.time():
                raise InvalidRequest(
                    f"Batch '{batch_id}' is past its completion window; it takes no more requests. Create a new batch.",
                    param="batch_id",
                )
        keys = [j.request_key for j in new if j.batch_id is not None]
        if len(set(keys)) != len(keys):
            raise InvalidRequest("batch_request_id values must be unique within a batch.", param="batch_request_id")
        if keys:
            taken = list(
                conn.execute(
                    select(jobs.c.request_key).where(jobs.c.batch_id.in_(batch_ids), jobs.c.request_key.in_(keys))
                ).scalars()
            )
            if taken:
                raise InvalidRequest(
                    f"The batch already has requests with batch_request_id {', '.join(sorted(taken)[:5])}.",
                    param="batch_request_id",
                )
        now = int(time.time())
        seq = self._next_seq(len(new))
        rows = []
        for i, j in enumerate(new):
            final = j.state in FINAL_STATES
            rows.append(
                {
                    "id": j.id,
                    "kind": j.kind.value,
                    "owner": j.owner,
                    "batch_id": j.batch_id,
                    "seq": seq + i,
                    "request_key": j.request_key,
                    "payload": dumps(j.payload),
                    "state": j.state.value,
                    "attempts": 0,
                    "max_attempts": self.max_attempts,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "created_at": now,
                    "finished_at": now if final else None,
                    "expires_at": now + self.db.retention_s,
                    "completed_by": None,
                    "result": None,
                    "error": dumps(j.error) if j.error is not None else None,
                }
            )
        if rows:
            conn.execute(insert(jobs), rows)
        links = [
            {"job_id": j.id, "sha256": h} for j in new if j.state is JobState.PENDING for h in sorted(set(j.images))
        ]
        if links:
            hashes = sorted({link["sha256"] for link in links})
            present = set(
                conn.execute(select(images_table.c.sha256).where(images_table.c.sha256.in_(hashes))).scalars()
            )
            if missing := [h for h in hashes if h not in present]:
                raise ValueError(f"enqueue: images not in the store (put_images first): {missing}")
            conn.execute(insert(job_images), links)

    def _claim(self, conn: Connection, worker: str, limit: int, lease_ms: int) -> list[Job]:
        close_due_batches(conn, int(time.time()))
        now = now_ms()
        claimable = or_(
            jobs.c.state == JobState.PENDING.value,
            and_(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at < now),
        )
        deferred_first = case((jobs.c.kind == JobKind.DEFERRED.value, 0), else_=1)
        candidates = select(jobs.c.id).where(claimable).order_by(deferred_first, jobs.c.seq).limit(limit)
        if self.db.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list(conn.execute(candidates).scalars())
        if not ids:
            return []
        claimed = conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(ids))
            .values(
                state=JobState.RUNNING.value,
                lease_owner=worker,
                lease_expires_at=now + lease_ms,
                attempts=jobs.c.attempts + 1,
            )
            .returning(*jobs.c)
        ).all()
        return sorted((job_from_row(row) for row in claimed), key=lambda j: (j.kind is not JobKind.DEFERRED, j.seq))

    def _renew(self, conn: Connection, worker: str, held: dict[str, int], lease_ms: int) -> set[str]:
        kept = conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(list(held)), jobs.c.lease_owner == worker, jobs.c.state == JobState.RUNNING.value)
            .values(lease_expires_at=now_ms() + lease_ms)
            .returning(jobs.c.id, jobs.c.attempts)
        ).all()
        still = {row[0] for row in kept if held.get(row[0]) == row[1]}
        return set(held) - still

    def _complete(
        self,
        conn: Connection,
        job: Job,
        worker: str,
        state: JobState,
        result: dict[str, Any] | None,
        error: dict[str, Any] | None,
        response: StoredResponse | None,
    ) -> bool:
        written = conn.execute(
            update(jobs)
            .where(
                jobs.c.id == job.id,
                jobs.c.lease_owner == worker,
                jobs.c.attempts == job.attempts,
                jobs.c.state == JobState.RUNNING.value,
            )
            .values(
                state=state.value,
                result=dumps(result) if result is not None else None,
                error=dumps(error) if error is not None else None,
                finished_at=int(time.time()),
                completed_by=worker,
                lease_owner=None,
                lease_expires_at=None,
            )
            .returning(jobs.c.id)
        ).first()
        if written is None:
            return False
        if response is not None:
            self.responses.write_response(conn, response)
        conn.execute(delete(job_images).where(job_images.c.job_id == job.id))
        return True

    def _release(self, conn: Connection, worker: str, held: dict[str, int]) -> int:
        released = 0
        for job_id, attempt in held.items():
            released += conn.execute(
                update(jobs)
                .where(
                    jobs.c.id == job_id,
                    jobs.c.lease_owner == worker,
                    jobs.c.attempts == attempt,
                    jobs.c.state == JobState.RUNNING.value,
                )
                .values(
                    state=JobState.PENDING.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=jobs.c.attempts - 1,
                )
            ).rowcount
        return released

    def _job(self, conn: Connection, job_id: str) -> Job | None:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one_or_none()
        return job_from_row(row) if row is not None else None

    def _state_counts(self, conn: Connection) -> dict[tuple[str, str], int]:
        rows = conn.execute(
            select(jobs.c.kind, jobs.c.state, func.count())
            .where(jobs.c.expires_at > int(time.time()))
            .group_by(jobs.c.kind, jobs.c.state)
        ).all()
        return {(kind, state): count for kind, state, count in rows}
