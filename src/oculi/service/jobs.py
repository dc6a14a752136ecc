"""The job worker: every replica claims durable jobs from the store and runs them through the one pipeline.

``JobWorker.start()`` runs two tasks next to the servers: a claim loop and a
lease heartbeat. The claim loop takes jobs (``store.jobs.JobQueue.claim``)
only while background work has seats left (see ``free_seats``), runs each
through ``Generator.start`` like any request, and writes the outcome once
(``complete``). The heartbeat renews the leases of running jobs every third
of the lease; a job whose lease was taken over (this process stalled) is
cancelled here, and its late result would be refused by the store anyway.

Background work yields to interactive traffic: at most ``job_share`` of the
engine's seats (``max_batch_size``) run jobs, and no job is claimed while
interactive requests already fill the engine. A job refused for capacity
(``Overloaded`` / ``Unavailable``) is handed back without using an attempt.

A database outage pauses the worker rather than losing work: claims and
lease renewals fail and are retried every poll; a running job that needs the
store (``StoreUnavailable``) keeps its claim and runs again once the store
answers, and a finished job keeps its result and writes it when the store is
back. The write is conditional on the claim (``JobQueue.complete``), so if
the lease lapsed during the outage and another replica took the job over,
this one writes nothing and the job is still done exactly once.

``close(grace)`` (SIGTERM, via ``Runtime.close``): stop claiming, let running
jobs finish for up to ``grace`` seconds, then cancel the rest and hand them
back so another replica (or this one restarted) runs them at once instead of
after their lease expires. After ``kill -9`` nothing is handed back: the
leases expire and other replicas claim the jobs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from oculi.domain import Completion, Conversation, GenerationParams, ImagePart, Message, OutputSpec
from oculi.errors import OculiError, Overloaded, StoreUnavailable, Unavailable
from oculi.metrics import Metrics
from oculi.service.generate import GenerationRequest, Generator
from oculi.store.jobs import Job, JobQueue, JobState

log = logging.getLogger(__name__)

#: How a finished job is written: ``(job, worker id, completion or None, error or None) -> written?``.
Finisher = Callable[[Job, str, "Completion | None", "dict[str, Any] | None"], Awaitable[bool]]


@dataclass
class WorkerSettings:
    """Knobs of the worker (from ``Settings``)."""

    seats: int  # most jobs running at once in this replica
    engine_seats: int  # the engine's batch size: jobs are claimed only while interactive work leaves room
    lease_s: float = 30.0
    poll_s: float = 1.0


# --- the request as a job payload ----------------------------------------------------------


def encode_request(request: GenerationRequest) -> dict[str, Any]:
    """A ``GenerationRequest`` as JSON-able data any replica can re-run (``decode_request``)."""
    return {
        "model": request.model,
        "conversation": request.conversation.to_dict(),
        "params": request.params.to_dict(),
        "surface": request.surface,
        "previous_response_id": request.previous_response_id,
        "metadata": request.metadata,
        "output": request.output.to_dict(),
    }


def decode_request(job: Job) -> GenerationRequest:
    """The request a job runs (its id is the job id, so it is also the completion id)."""
    p = job.payload
    return GenerationRequest(
        model=p["model"],
        conversation=Conversation.from_dict(p["conversation"]),
        params=GenerationParams.from_dict(p["params"]),
        owner=job.owner,
        surface=p.get("surface", "chat"),
        store=False,
        previous_response_id=p.get("previous_response_id"),
        id=job.id,
        metadata=dict(p.get("metadata") or {}),
        output=OutputSpec.from_dict(p["output"]) if p.get("output") else OutputSpec(),
    )


def inline_images_to_store(conversation: Conversation) -> tuple[Conversation, dict[str, bytes]]:
    """``conversation`` with every decodable ``data:`` image replaced by a ``stored:<sha256>`` reference.

    Returns the bytes to ``put_images``. Cheap (no image decoding): a batch
    keeps its requests small and each image once however often it is used.
    A data URL that is not valid base64 stays inline, so the run refuses it
    with the same message as an interactive request would.
    """
    images: dict[str, bytes] = {}
    messages = []
    for message in conversation.messages:
        parts = []
        for part in message.parts:
            if isinstance(part, ImagePart) and part.url[:5].lower() == "data:" and "," in part.url:
                payload = part.url.split(",", 1)[1]
                try:
                    data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
                except (binascii.Error, ValueError):
                    data = b""
                if data:
                    sha256 = hashlib.sha256(data).hexdigest()
                    images[sha256] = data
                    part = ImagePart.stored(sha256, part.detail)
            parts.append(part)
        messages.append(Message(message.role, parts))
    return Conversation(messages), images


def error_body(exc: BaseException) -> dict[str, Any]:
    """A failed job's error: the xAI ``{"code", "error"}`` shape plus the HTTP and gRPC status."""
    if isinstance(exc, OculiError):
        return {**exc.http_body(), "status": exc.status, "grpc_status": exc.grpc_status}
    return {"code": "internal_error", "error": "Generation failed.", "status": 500, "grpc_status": "INTERNAL"}


def completion_to_dict(completion: Completion) -> dict[str, Any]:
    """A completion as stored in a job's result."""
    return {
        "id": completion.id,
        "model": completion.model,
        "created": completion.created,
        "choices": [c.to_dict() for c in completion.choices],
        "usage": completion.usage.to_dict(),
    }


def completion_from_dict(data: dict[str, Any]) -> Completion:
    """Inverse of ``completion_to_dict``."""
    from oculi.domain import Choice, Usage

    return Completion(
        data["id"],
        data["model"],
        data["created"],
        [Choice.from_dict(c) for c in data["choices"]],
        Usage.from_dict(data["usage"]),
    )


# --- the worker ----------------------------------------------------------------------------


class JobWorker:
    """Claims and runs jobs in this replica (see module docstring)."""

    def __init__(
        self,
        queue: JobQueue,
        generator: Generator,
        settings: WorkerSettings,
        finishers: dict[str, Finisher],
        metrics: Metrics | None = None,
    ) -> None:
        self.queue = queue
        self.generator = generator
        self.settings = settings
        self.finishers = finishers  # by job kind
        self.metrics = metrics
        self.id = f"worker-{uuid.uuid4().hex[:12]}"
        self._running: dict[str, tuple[Job, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._loops: list[asyncio.Task[None]] = []

    @property
    def lease_ms(self) -> int:
        return int(self.settings.lease_s * 1000)

    def start(self) -> None:
        """Start claiming (call once, inside the event loop)."""
        self._loops = [
            asyncio.create_task(self._claim_loop(), name=f"{self.id}-claim"),
            asyncio.create_task(self._heartbeat_loop(), name=f"{self.id}-heartbeat"),
        ]
        log.info("job worker %s: up to %d background jobs at once", self.id, self.settings.seats)

    def wake(self) -> None:
        """Look for work now (a job was just queued here)."""
        self._wake.set()

    def stop_claiming(self) -> None:
        """Claim nothing more (the first step of a graceful shutdown)."""
        self._stopping = True
        self._wake.set()

    def free_seats(self) -> int:
        """How many more jobs may start now: within ``seats`` and the engine seats interactive work leaves."""
        running = len(self._running)
        interactive = max(0, self.generator.admission.active - running)
        return max(0, min(self.settings.seats - running, self.settings.engine_seats - interactive - running))

    async def close(self, grace: float) -> None:
        """Stop claiming, give running jobs ``grace`` seconds, then cancel and hand back the rest."""
        self.stop_claiming()
        if self._running:
            log.info("job worker %s: waiting up to %.0fs for %d running jobs", self.id, grace, len(self._running))
            await asyncio.wait([task for _, task in self._running.values()], timeout=grace)
        left = {job.id: job.attempts for job, _ in self._running.values()}
        for _, task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*(task for _, task in self._running.values()), return_exceptions=True)
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if left:
            try:
                handed = await self.queue.release(self.id, left)
                log.info("job worker %s: handed %d unfinished jobs back to the queue", self.id, handed)
            except OculiError:
                log.warning("job worker %s: could not hand jobs back; their leases will expire", self.id)

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            claimed: list[Job] = []
            try:
                claimed = await self.queue.claim(self.id, self.free_seats(), self.lease_ms)
            except StoreUnavailable:
                pass  # the database is down (the store logs when it goes and comes back): poll again
            except OculiError as exc:
                log.warning("job worker %s: claiming failed (%s); retrying", self.id, exc.message)
            for job in claimed:
                if (stale := self._running.get(job.id)) is not None:
                    # Our own lease lapsed (the store was down) and we claimed the job again: the old run's
                    # result can no longer be written (its attempt is gone), so the new run replaces it.
                    stale[1].cancel()
                task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
                self._running[job.id] = (job, task)
                task.add_done_callback(functools.partial(self._done, job.id))
            if claimed and self.free_seats() > 0:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)

    def _done(self, job_id: str, task: asyncio.Task[None]) -> None:
        entry = self._running.get(job_id)
        if entry is not None and entry[1] is task:  # not a newer run of the same job
            del self._running[job_id]
        self._wake.set()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            held = {job.id: job.attempts for job, _ in self._running.values()}
            try:
                lost = await self.queue.renew(self.id, held, self.lease_ms)
            except StoreUnavailable:
                continue  # renewed at the next beat once the database is back (the lease row is still ours)
            except OculiError as exc:
                log.warning("job worker %s: renewing leases failed (%s)", self.id, exc.message)
                continue
            for job_id in lost:
                entry = self._running.get(job_id)
                if entry is not None:
                    log.warning("job worker %s: lost the lease of job %s; stopping it", self.id, job_id)
                    entry[1].cancel()

    async def _generate(self, job: Job) -> Completion:
        """Run the job's request; while the store is down (a stored image, say), keep the claim and retry."""
        while True:
            try:
                return await self.generator.complete(decode_request(job))
            except StoreUnavailable:
                log.info("job %s: the store is unavailable; running it again once it answers", job.id)
                await asyncio.sleep(self.settings.poll_s)

    async def _execute(self, job: Job) -> None:
        completion: Completion | None = None
        error: dict[str, Any] | None = None
        if job.exhausted:
            error = {
                "code": "job_abandoned",
                "error": f"The request was started {job.max_attempts} times and each time the server running it "
                "stopped before it finished; it was not retried again.",
                "status": 500,
                "grpc_status": "INTERNAL",
            }
        else:
            try:
                completion = await self._generate(job)
            except (Overloaded, Unavailable) as exc:
                log.info("job %s: %s; handing it back", job.id, exc.message)
                with contextlib.suppress(OculiError):
                    await self.queue.release(self.id, {job.id: job.attempts})
                await asyncio.sleep(self.settings.poll_s)
                return
            except OculiError as exc:
                error = error_body(exc)
            except Exception as exc:
                log.exception("job %s failed", job.id)
                error = error_body(exc)
        while True:
            try:
                written = await self.finishers[job.kind.value](job, self.id, completion, error)
                break
            except StoreUnavailable:
                # Keep the result and the claim; the heartbeat cancels this task if another worker takes the job.
                await asyncio.sleep(self.settings.poll_s)
            except OculiError as exc:
                log.warning("job %s: could not write its result (%s); it will run again", job.id, exc.message)
                return
        state = JobState.SUCCEEDED if completion is not None else JobState.FAILED
        if written:
            log.info("job %s (%s) %s by %s", job.id, job.kind.value, state.value, self.id)
            if self.metrics is not None:
                self.metrics.jobs_finished.labels(job.kind.value, state.value).inc()
        else:
            log.warning("job %s: lease lost before completion; result discarded (another worker owns it)", job.id)
