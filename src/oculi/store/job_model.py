"""The job machinery's data: job and batch records, their states, and the row codecs (``jobs.py``, ``batches.py``)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Row

from oculi.errors import NotFound


class JobState(StrEnum):
    """Where a job is in its life (see module docstring)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # its batch's completion window ended before it started: never run


FINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)


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
    expired: int = 0


@dataclass
class BatchRecord:
    """One batch: who owns it, its name and surface-specific ``metadata``, and its request counts.

    ``expires_at`` is when the record itself goes (the store's retention);
    ``deadline_at`` ends its completion window: requests not started by then
    are expired (``expired_at`` set when there were any) and never run.
    """

    id: str
    owner: str
    name: str
    created_at: int
    expires_at: int
    cancelled_at: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    counts: BatchCounts = field(default_factory=BatchCounts)
    deadline_at: int | None = None
    closed_at: int | None = None
    expired_at: int | None = None

    def overdue(self, now: float) -> bool:
        """Past its deadline and not closed yet (``JobQueue.close_due`` will expire what did not start)."""
        return self.deadline_at is not None and self.closed_at is None and self.deadline_at <= now


def now_ms() -> int:
    """Wall-clock milliseconds (the lease clock)."""
    return int(time.time() * 1000)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(value: str | None) -> Any:
    return json.loads(value) if value is not None else None


def job_from_row(row: Row[Any]) -> Job:
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
        result=loads(m["result"]),
        error=loads(m["error"]),
    )


def batch_from_row(row: Row[Any]) -> BatchRecord:
    m = row._mapping
    return BatchRecord(
        id=m["id"],
        owner=m["owner"],
        name=m["name"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        cancelled_at=m["cancelled_at"],
        metadata=json.loads(m["metadata"]),
        deadline_at=m["deadline_at"],
        closed_at=m["closed_at"],
        expired_at=m["expired_at"],
    )
