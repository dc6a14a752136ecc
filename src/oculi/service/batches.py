"""Batches: many generation requests run as durable background jobs, with per-request results.

Wire-neutral: the gRPC ``BatchMgmt`` servicer and the REST ``/v1/batches``
router map their requests to ``BatchItem``s and read back ``BatchRecord`` /
``Job`` rows. Adding requests is cheap and never runs a model: each request's
inline (base64) images go into the store once by content hash, URLs stay
URLs (fetched when the request runs, so an unreachable one becomes that
request's error, not the whole batch's), and each request becomes one
``batch`` job. A request the surface could not even map (an unsupported
field) is recorded as failed at once with its error, so the caller finds it
among the results like any other failure.

Results are the job rows themselves: ``result`` (the completion) or
``error`` (``{"code", "error", "status", "grpc_status"}``), kept for the
store's retention period.

Every batch has a completion window (``batch_window_seconds``, the wire's
``"24h"``) from its creation: past it, requests that have not started are
``expired`` and never run, running ones finish, and the batch takes no more
requests (the store enforces it; see ``store/batches.py``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oculi.domain import Completion
from oculi.errors import InvalidRequest, OculiError
from oculi.metrics import Metrics
from oculi.service.generate import GenerationRequest
from oculi.service.jobs import Finisher, completion_to_dict, encode_request, error_body, inline_images_to_store
from oculi.store.batches import BatchStore
from oculi.store.jobs import BatchRecord, Job, JobKind, JobQueue, JobState, NewJob
from oculi.store.responses import ResponseStore

#: Most requests one add call may carry (larger sets: several calls).
MAX_ADD = 50_000


@dataclass
class BatchItem:
    """One request to add: its ``batch_request_id`` (or None: one is made) and the request or why it is refused."""

    request_key: str | None
    request: GenerationRequest | None = None
    refused: OculiError | None = None
    wire: dict[str, Any] | None = None  # surface-specific extras kept with the job (e.g. the REST endpoint)


def new_request_id() -> str:
    """A generated ``batch_request_id``."""
    return f"req_{uuid.uuid4().hex[:24]}"


class BatchService:
    """Create, fill, read and cancel batches (see module docstring).

    Given the parts of the store it uses: ``batches`` (the batch rows),
    ``queue`` (their requests as jobs) and ``images`` (where inline images
    are kept by hash); ``wake`` tells this replica's job worker that work
    was queued (it polls anyway).
    """

    def __init__(
        self,
        batches: BatchStore,
        queue: JobQueue,
        images: ResponseStore,
        *,
        wake: Callable[[], None],
        metrics: Metrics | None = None,
        window_s: float = 86_400,
    ) -> None:
        self.batches = batches
        self.queue = queue
        self.images = images
        self.wake = wake
        self.metrics = metrics
        self.window_s = window_s

    async def create(
        self, owner: str, name: str, metadata: dict[str, Any] | None = None, *, sealed: bool = False
    ) -> BatchRecord:
        """A new empty batch of ``owner``'s; ``sealed`` (made from an input file): only its creator adds to it."""
        now = int(time.time())
        record = BatchRecord(
            id=f"batch_{uuid.uuid4()}",
            owner=owner,
            name=name,
            created_at=now,
            expires_at=self.batches.expires_at_for(now),
            metadata={**(metadata or {}), "sealed": True} if sealed else dict(metadata or {}),
            deadline_at=now + max(1, round(self.window_s)),
        )
        await self.batches.create_batch(record)
        if self.metrics is not None:
            self.metrics.batches_created.inc()
        return record

    async def add(self, batch_id: str, owner: str, items: list[BatchItem], *, sealed_ok: bool = False) -> list[str]:
        """Queue ``items`` in the caller's batch; return their ``batch_request_id``s in order.

        A batch made from an input file is sealed: only its creator (``sealed_ok``) adds to it.
        """
        if len(items) > MAX_ADD:
            raise InvalidRequest(
                f"At most {MAX_ADD} requests can be added in one call, got {len(items)}; add them in parts.",
                param="batch_requests",
            )
        batch = await self.get(batch_id, owner)
        if batch.cancelled_at is not None:
            raise InvalidRequest(f"Batch '{batch_id}' is cancelled; it takes no more requests.", param="batch_id")
        if batch.closed_at is not None:
            raise InvalidRequest(
                f"Batch '{batch_id}' is past its completion window; it takes no more requests. Create a new batch.",
                param="batch_id",
            )
        if batch.metadata.get("sealed") and not sealed_ok:
            raise InvalidRequest(
                f"Batch '{batch_id}' was created from an input file and takes no more requests.", param="batch_id"
            )
        images: dict[str, bytes] = {}
        jobs = []
        for item in items:
            job_id = str(uuid.uuid4())
            key = item.request_key or new_request_id()
            if item.request is None:
                error = error_body(item.refused or InvalidRequest("The request is empty."))
                jobs.append(
                    NewJob(
                        id=job_id,
                        kind=JobKind.BATCH,
                        owner=owner,
                        request_key=key,
                        payload={"wire": item.wire or {}},
                        batch_id=batch_id,
                        state=JobState.FAILED,
                        error=error,
                    )
                )
                continue
            request = item.request
            conversation, inline = inline_images_to_store(request.conversation)
            images.update(inline)
            request.conversation = conversation
            payload = {**encode_request(request), "wire": item.wire or {}}
            hashes = [h for p in conversation.images() if (h := p.stored_sha256) is not None]
            jobs.append(
                NewJob(
                    id=job_id,
                    kind=JobKind.BATCH,
                    owner=owner,
                    request_key=key,
                    payload=payload,
                    images=hashes,
                    batch_id=batch_id,
                )
            )
        await self.images.put_images(images)
        await self.queue.enqueue(jobs)
        if self.metrics is not None:
            self.metrics.batch_requests_added.inc(len(jobs))
        self.wake()
        return [j.request_key for j in jobs]

    async def get(self, batch_id: str, owner: str) -> BatchRecord:
        """The caller's batch with its counts (an overdue one is closed first, so they say what expired)."""
        record = await self.batches.get_batch(batch_id, owner)
        if record.overdue(time.time()):
            await self.batches.close_due()
            record = await self.batches.get_batch(batch_id, owner)
        return record

    async def list_batches(
        self, owner: str, *, limit: int, offset: int = 0, after: str | None = None
    ) -> list[BatchRecord]:
        """The caller's batches, newest first (from ``offset``, or after the batch ``after``)."""
        records = await self.batches.list_batches(owner, limit=limit, offset=offset, after=after)
        if any(r.overdue(time.time()) for r in records):
            await self.batches.close_due()
            records = await self.batches.list_batches(owner, limit=limit, offset=offset, after=after)
        return records

    async def cancel(self, batch_id: str, owner: str) -> BatchRecord:
        """Cancel the pending requests (running ones finish); idempotent. An expired batch stays expired."""
        record = await self.get(batch_id, owner)
        if record.expired_at is not None:
            return record
        return await self.batches.cancel_batch(batch_id, owner)

    async def requests(
        self, batch_id: str, owner: str, *, limit: int, after_seq: int = -1, states: tuple[JobState, ...] = ()
    ) -> list[Job]:
        """The batch's requests in arrival order (``states``: only those)."""
        return await self.batches.list_jobs(batch_id, owner, limit=limit, after_seq=after_seq, states=states)

    async def request(self, batch_id: str, owner: str, request_key: str) -> Job:
        """One request of the batch by ``batch_request_id``."""
        return await self.batches.get_job(batch_id, request_key, owner)


def batch_finisher(queue: JobQueue) -> Finisher:
    """How the worker writes one batch request's outcome: once, into its job row."""

    async def finish(job: Job, worker: str, completion: Completion | None, error: dict[str, Any] | None) -> bool:
        state = JobState.SUCCEEDED if completion is not None else JobState.FAILED
        result = completion_to_dict(completion) if completion is not None else None
        return await queue.complete(job, worker, state, result=result, error=error)

    return finish


def page_limit(limit: int | None, *, default: int = 100, most: int = 1000) -> int:
    """A page size from a client's ``limit`` (unset or 0: ``default``); a negative one is a 400."""
    if not limit:
        return default
    if limit < 0:
        raise InvalidRequest(f"limit must be positive, got {limit}.", param="limit")
    return min(limit, most)


def page_token(token: str | None, param: str = "pagination_token") -> int:
    """The position a pagination token names (tokens are decimal positions oculi handed out)."""
    if not token:
        return -1
    if not token.lstrip("-").isdigit():
        raise InvalidRequest(f"Invalid {param} {token!r}: pass the token a previous page returned.", param=param)
    return int(token)
