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
- **Bounded attempts.** A job claimed more than ``max_attempts`` times (its
  workers kept dying) is handed to the claimer only so it can be failed
  with a reason; ``attempts`` counts claims, and a graceful hand-back
  (``release``) gives its claim back.

The lease clock is the database rows' ``lease_expires_at`` (milliseconds)
compared with each replica's wall clock: replicas need roughly synchronised
clocks (NTP), and the lease should be many times the clock skew.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, and_, case, delete, func, insert, or_, select, update

from oculi.errors import InvalidRequest, NotFound
from oculi.store.job_tables import batches, job_images, jobs
from oculi.store.schema import images as images_table

if TYPE_CHECKING:
    from oculi.store.base import StoredResponse
    from oculi.store.sql import SqlStore


class JobState(StrEnum):
    """Where a job is in its life (see module docstring)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobKind(StrEnum):
    """What a job runs."""

    DEFERRED = "deferred"
    BATCH = "batch"


class BatchNotFound(NotFound):
    """A batch id (or a request id inside it) unknown for this API key."""

    code = "batch_not_found"


@dataclass
class NewJob:
    """A job to enqueue: its request (JSON-able ``payload``) and the stored images it refers to."""

    id: str
    kind: JobKind
    owner: str
    request_key: str
    payload: dict[str, Any]
    images: list[str] = field(default_factory=list)  # sha256 of every stored image the payload names
    batch_id: str | None = None
    state: JobState = JobState.PENDING
    error: dict[str, Any] | None = None  # set with state FAILED: refused when added


@dataclass
class Job:
    """A job row as read back (``attempts`` doubles as the lease token of the current claim)."""

    id: str
    kind: JobKind
    owner: str
    batch_id: str | None
    seq: int
    request_key: str
    payload: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    created_at: int
    finished_at: int | None
    completed_by: str | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None

    @property
    def exhausted(self) -> bool:
        """Claimed more often than allowed: fail it instead of running it again."""
        return self.attempts > self.max_attempts


@dataclass
class BatchCounts:
    """How many requests of a batch are in each state (``pending`` includes running)."""

    total: int = 0
    pending: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0


@dataclass
class BatchRecord:
    """One batch: who owns it, its name and surface-specific ``metadata``, and its request counts."""

    id: str
    owner: str
    name: str
    created_at: int
    expires_at: int
    cancelled_at: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    counts: BatchCounts = field(default_factory=BatchCounts)


def now_ms() -> int:
    """Wall-clock milliseconds (the lease clock)."""
    return int(time.time() * 1000)


class JobQueue:
    """The job tables of one ``SqlStore`` (see module docstring); one per server process."""

    def __init__(self, store: SqlStore, *, max_attempts: int = 3) -> None:
        self.store = store
        self.max_attempts = max_attempts
        self._seq = 0

    # --- producers ------------------------------------------------------------------

    async def enqueue(self, new: list[NewJob], *, response: StoredResponse | None = None) -> None:
        """Insert ``new`` jobs durably (with ``response``, a deferred request's IN_PROGRESS record)."""
        await self.store.transact(self._enqueue, new, response, write=True, what="queueing background work")

    async def create_batch(self, batch: BatchRecord) -> None:
        """Insert a new, empty batch."""
        row = {
            "id": batch.id,
            "owner": batch.owner,
            "name": batch.name,
            "created_at": batch.created_at,
            "expires_at": batch.expires_at,
            "cancelled_at": None,
            "metadata": _dumps(batch.metadata),
        }
        await self.store.transact(lambda c: c.execute(insert(batches).values(row)), write=True, what="creating a batch")

    async def update_batch_metadata(self, batch_id: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Replace a batch's surface-specific metadata if it is still ``old`` (compare-and-set); True if done.

        Lets one replica, and only one, take a step such as writing a REST
        batch's output files.
        """
        stmt = (
            update(batches)
            .where(batches.c.id == batch_id, batches.c.metadata == _dumps(old))
            .values(metadata=_dumps(new))
        )
        done = await self.store.transact(lambda c: c.execute(stmt).rowcount, write=True, what="updating a batch")
        return bool(done)

    async def cancel_batch(self, batch_id: str, owner: str) -> BatchRecord:
        """Cancel every pending request of the batch (running ones finish); return the batch."""
        return await self.store.transact(self._cancel_batch, batch_id, owner, write=True, what="cancelling a batch")

    # --- readers ------------------------------------------------------------------------

    async def get_batch(self, batch_id: str, owner: str) -> BatchRecord:
        """The caller's batch with its counts, or ``BatchNotFound``."""
        return await self.store.transact(self._get_batch, batch_id, owner, write=False, what="reading a batch")

    async def list_batches(
        self, owner: str, *, limit: int, offset: int = 0, after: str | None = None
    ) -> list[BatchRecord]:
        """The caller's unexpired batches, newest first: from ``offset``, or after the batch ``after``."""
        return await self.store.transact(
            self._list_batches, owner, limit, offset, after, write=False, what="listing batches"
        )

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
        return await self.store.transact(
            self._list_jobs, batch_id, owner, limit, after_seq, states, write=False, what="listing batch requests"
        )

    async def get_job(self, batch_id: str, request_key: str, owner: str) -> Job:
        """One request of the caller's batch by its ``batch_request_id``, or ``BatchNotFound``."""
        return await self.store.transact(
            self._get_job, batch_id, request_key, owner, write=False, what="reading a batch request"
        )

    async def job(self, job_id: str) -> Job | None:
        """A job by id (any owner): the worker's and tests' view."""
        return await self.store.transact(self._job, job_id, write=False, what="reading a job")

    async def state_counts(self) -> dict[tuple[str, str], int]:
        """``{(kind, state): count}`` over every unexpired job (for ``/metrics``)."""
        return await self.store.transact(self._state_counts, write=False, what="counting jobs")

    # --- workers -------------------------------------------------------------------------

    async def claim(self, worker: str, limit: int, lease_ms: int) -> list[Job]:
        """Up to ``limit`` claimable jobs, now leased to ``worker`` for ``lease_ms``."""
        if limit <= 0:
            return []
        return await self.store.transact(self._claim, worker, limit, lease_ms, write=True, what="claiming jobs")

    async def renew(self, worker: str, held: dict[str, int], lease_ms: int) -> set[str]:
        """Extend the leases ``worker`` holds (``{job id: attempt}``); return the ids it no longer holds."""
        if not held:
            return set()
        return await self.store.transact(self._renew, worker, held, lease_ms, write=True, what="renewing leases")

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
        return await self.store.transact(
            self._complete, job, worker, state, result, error, response, write=True, what="completing a job"
        )

    async def release(self, worker: str, held: dict[str, int]) -> int:
        """Hand jobs back to the queue unfinished (graceful shutdown): their claim does not count."""
        if not held:
            return 0
        return await self.store.transact(self._release, worker, held, write=True, what="handing jobs back")

    # --- blocking implementations ------------------------------------------------------------

    def _next_seq(self, count: int) -> int:
        # Microseconds keep arrival order across replicas; the counter orders one call's jobs.
        base = max(int(time.time() * 1_000_000), self._seq + 1)
        self._seq = base + count
        return base

    def _enqueue(self, conn: Connection, new: list[NewJob], response: StoredResponse | None) -> None:
        if response is not None:
            self.store._put_response(conn, response)
        batch_ids = {j.batch_id for j in new if j.batch_id is not None}
        for batch_id in batch_ids:
            cancelled = conn.execute(select(batches.c.cancelled_at).where(batches.c.id == batch_id)).one_or_none()
            if cancelled is not None and cancelled[0] is not None:
                raise InvalidRequest(f"Batch '{batch_id}' is cancelled; it takes no more requests.", param="batch_id")
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
                    "payload": _dumps(j.payload),
                    "state": j.state.value,
                    "attempts": 0,
                    "max_attempts": self.max_attempts,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "created_at": now,
                    "finished_at": now if final else None,
                    "expires_at": now + self.store.retention_s,
                    "completed_by": None,
                    "result": None,
                    "error": _dumps(j.error) if j.error is not None else None,
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
        now = now_ms()
        claimable = or_(
            jobs.c.state == JobState.PENDING.value,
            and_(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at < now),
        )
        deferred_first = case((jobs.c.kind == JobKind.DEFERRED.value, 0), else_=1)
        candidates = select(jobs.c.id).where(claimable).order_by(deferred_first, jobs.c.seq).limit(limit)
        if self.store.dialect == "postgresql":
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
        return sorted((_job(row) for row in claimed), key=lambda j: (j.kind is not JobKind.DEFERRED, j.seq))

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
                result=_dumps(result) if result is not None else None,
                error=_dumps(error) if error is not None else None,
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
            self.store._put_response(conn, response)
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
        record = _batch(row)
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
        records = [_batch(row) for row in rows]
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
        return [_job(row) for row in conn.execute(query.order_by(jobs.c.seq).limit(limit)).all()]

    def _get_job(self, conn: Connection, batch_id: str, request_key: str, owner: str) -> Job:
        self._get_batch(conn, batch_id, owner)
        row = conn.execute(
            select(jobs).where(jobs.c.batch_id == batch_id, jobs.c.request_key == request_key)
        ).one_or_none()
        if row is None:
            raise BatchNotFound(
                f"Batch '{batch_id}' has no request with batch_request_id '{request_key}'.", param="batch_request_id"
            )
        return _job(row)

    def _job(self, conn: Connection, job_id: str) -> Job | None:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one_or_none()
        return _job(row) if row is not None else None

    def _state_counts(self, conn: Connection) -> dict[tuple[str, str], int]:
        rows = conn.execute(
            select(jobs.c.kind, jobs.c.state, func.count())
            .where(jobs.c.expires_at > int(time.time()))
            .group_by(jobs.c.kind, jobs.c.state)
        ).all()
        return {(kind, state): count for kind, state, count in rows}


def purge_expired_jobs(conn: Connection, now: int) -> int:
    """Delete jobs and batches past their retention (called by the store's purge); return jobs deleted."""
    expired = select(jobs.c.id).where(jobs.c.expires_at <= now).scalar_subquery()
    conn.execute(delete(job_images).where(job_images.c.job_id.in_(expired)))
    deleted = conn.execute(delete(jobs).where(jobs.c.expires_at <= now)).rowcount
    gone = select(batches.c.id).where(batches.c.expires_at <= now).scalar_subquery()
    conn.execute(delete(job_images).where(job_images.c.job_id.in_(select(jobs.c.id).where(jobs.c.batch_id.in_(gone)))))
    deleted += conn.execute(delete(jobs).where(jobs.c.batch_id.in_(gone))).rowcount
    conn.execute(delete(batches).where(batches.c.expires_at <= now))
    return deleted


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _loads(value: str | None) -> Any:
    return json.loads(value) if value is not None else None


def _job(row: Row[Any]) -> Job:
    m = row._mapping
    return Job(
        id=m["id"],
        kind=JobKind(m["kind"]),
        owner=m["owner"],
        batch_id=m["batch_id"],
        seq=m["seq"],
        request_key=m["request_key"],
        payload=json.loads(m["payload"]),
        state=JobState(m["state"]),
        attempts=m["attempts"],
        max_attempts=m["max_attempts"],
        created_at=m["created_at"],
        finished_at=m["finished_at"],
        completed_by=m["completed_by"],
        result=_loads(m["result"]),
        error=_loads(m["error"]),
    )


def _batch(row: Row[Any]) -> BatchRecord:
    m = row._mapping
    return BatchRecord(
        id=m["id"],
        owner=m["owner"],
        name=m["name"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        cancelled_at=m["cancelled_at"],
        metadata=json.loads(m["metadata"]),
    )
