"""Deferred completions: accept now, answer later (``chat.defer()``, ``deferred: true``), durably.

``submit`` runs ``Generator.start`` (so a bad request — unknown model, bad
image, too long — is refused at once, with its status), keeps the request's
images in the store by content hash, then writes in ONE transaction the
IN_PROGRESS response record (what polls read) and a ``deferred`` job (what
workers run), and only then returns the id. From that moment the request
survives ``kill -9``: any replica's ``JobWorker`` claims it, and
the worker's finisher (``deferred_finisher``) replaces the record with the
COMPLETED (or FAILED) one in the same transaction that completes the job, so
it is written exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oculi.domain import Completion
from oculi.errors import ResponseNotFound
from oculi.service.generate import GenerationRequest, Generator
from oculi.service.jobs import Finisher, encode_request
from oculi.store.base import ResponseStatus, StoredResponse
from oculi.store.jobs import Job, JobKind, JobQueue, JobState, NewJob
from oculi.store.responses import ResponseStore


class DeferredRunner:
    """Queues deferred generations as durable jobs and answers polls for them.

    ``wake``: tells this replica's job worker that work was queued (it polls anyway).
    """

    def __init__(
        self, generator: Generator, queue: JobQueue, responses: ResponseStore, *, wake: Callable[[], None]
    ) -> None:
        self.generator = generator
        self.queue = queue
        self.responses = responses
        self.wake = wake

    async def submit(self, request: GenerationRequest) -> str:
        """Validate and queue ``request``; return the id to poll (the job is durable on return)."""
        request.metadata = {**request.metadata, "deferred": True}
        run = await self.generator.start(request)
        try:
            record = await self.generator.to_stored(run, ResponseStatus.IN_PROGRESS)
        finally:
            await run.aclose()  # nothing was generated: free the admission slot now
        # The job runs the full conversation (history included, images as stored
        # references), so it needs neither the earlier response nor the URLs again.
        frozen = GenerationRequest(
            model=run.model,
            conversation=record.conversation,
            params=request.params,
            owner=request.owner,
            surface=request.surface,
            id=run.id,
            metadata=request.metadata,
            output=request.output,
        )
        images = [h for p in record.conversation.images() if (h := p.stored_sha256) is not None]
        job = NewJob(
            id=run.id,
            kind=JobKind.DEFERRED,
            owner=request.owner,
            request_key=run.id,
            payload=encode_request(frozen),
            images=images,
        )
        await self.queue.enqueue([job], response=record)
        self.wake()
        return run.id

    async def poll(self, request_id: str, owner: str) -> StoredResponse:
        """The deferred record (IN_PROGRESS, COMPLETED or FAILED), or ``ResponseNotFound``."""
        record = await self.responses.get_response(request_id, owner)
        if record is None or not record.metadata.get("deferred"):
            raise ResponseNotFound(
                f"No deferred request with id '{request_id}' for this API key (it may have expired).",
                param="request_id",
            )
        return record


def deferred_finisher(queue: JobQueue, responses: ResponseStore) -> Finisher:
    """How the worker writes a deferred job's outcome: the job and its response record, once, together."""

    async def finish(job: Job, worker: str, completion: Completion | None, error: dict[str, Any] | None) -> bool:
        record = await responses.get_response(job.id, job.owner)
        state = JobState.SUCCEEDED if completion is not None else JobState.FAILED
        if record is not None:  # None: deleted or expired meanwhile; the job still completes
            record.status = ResponseStatus.COMPLETED if completion is not None else ResponseStatus.FAILED
            if completion is not None:
                record.model, record.choices, record.usage = completion.model, completion.choices, completion.usage
            if error is not None:
                code = error["code"] if error.get("status", 500) < 500 else "internal_error"
                record.error = {"code": code, "error": error["error"]}
        return await queue.complete(job, worker, state, error=error, response=record)

    return finish
