"""Running a non-streaming generation to its end — unless the client leaves first.

A client that disconnects stops its generation and frees its slot (SPEC §5),
streaming or not. For a whole (non-streaming) answer nothing is sent until the
end, so the server would not notice a departed client on its own: ``drain``
watches the connection for ``http.disconnect`` while the run is drained, and
stops the run (engine cancel, slot freed) the moment the client is gone.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request

from oculi.domain import Completion
from oculi.service.generate import GenerationRun

log = logging.getLogger(__name__)


class ClientGone(Exception):
    """The client disconnected before its answer was ready; there is no one to answer."""


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _consume(run: GenerationRun) -> None:
    async for _ in run:
        pass


async def drain(run: GenerationRun, request: Request) -> Completion:
    """The finished completion of ``run``, or ``ClientGone`` after stopping it."""
    work = asyncio.create_task(_consume(run), name=f"drain-{run.id}")
    watch = asyncio.create_task(_disconnected(request), name=f"watch-{run.id}")
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, watch):
            if not task.done():
                task.cancel()
        await asyncio.gather(work, watch, return_exceptions=True)
        if work.cancelled():
            await run.aclose()  # also when the run was cancelled before it started
    if work.cancelled():
        log.info("client disconnected; generation %s stopped", run.id)
        raise ClientGone(run.id)
    work.result()  # re-raise an engine failure
    assert run.completion is not None
    return run.completion
