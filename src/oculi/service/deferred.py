"""Deferred completions: start now, answer later (``chat.defer()``, ``deferred: true``).

``submit`` runs the same ``Generator.start`` (so a bad request is refused at
once), records the request as IN_PROGRESS in the store, and drains the run in
a background task that replaces the record with the COMPLETED (or FAILED)
one. Because the record lives in the store, any replica sharing the store can
answer the poll. A server that stops while a deferred request runs leaves it
IN_PROGRESS until it expires; the caller sees it as still pending.
"""

from __future__ import annotations

import asyncio
import logging

from oculi.errors import OculiError, ResponseNotFound
from oculi.service.generate import GenerationRequest, GenerationRun, Generator
from oculi.store.base import ResponseStatus, StoredResponse

log = logging.getLogger(__name__)


class DeferredRunner:
    """Starts deferred generations and answers polls for them."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, request: GenerationRequest) -> str:
        """Start ``request`` in the background; return the id to poll."""
        request.metadata = {**request.metadata, "deferred": True}
        run = await self.generator.start(request)
        await self.generator.store.put_response(await self.generator.to_stored(run, ResponseStatus.IN_PROGRESS))
        task = asyncio.create_task(self._drain(run), name=f"deferred-{run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run.id

    async def _drain(self, run: GenerationRun) -> None:
        # The run stores itself only when request.store is set; a deferred
        # result must be kept either way, so write the final record here.
        run.request.store = False
        try:
            async for _ in run:
                pass
            record = await self.generator.to_stored(run, ResponseStatus.COMPLETED)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("deferred request %s failed", run.id)
            record = await self.generator.to_stored(run, ResponseStatus.FAILED)
            record.error = (
                exc.http_body()
                if isinstance(exc, OculiError)
                else {"code": "internal_error", "error": "generation failed"}
            )
        await self.generator.store.put_response(record)

    async def poll(self, request_id: str, owner: str) -> StoredResponse:
        """The deferred record (IN_PROGRESS, COMPLETED or FAILED), or ``ResponseNotFound``."""
        record = await self.generator.store.get_response(request_id, owner)
        if record is None or not record.metadata.get("deferred"):
            raise ResponseNotFound(
                f"No deferred request with id '{request_id}' for this API key (it may have expired).",
                param="request_id",
            )
        return record

    async def close(self) -> None:
        """Cancel deferred work still running (server shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
