"""Server-sent events: framing, and driving a generation so that a disconnect stops it cleanly.

Starlette cancels a streaming response's body when the client disconnects,
through an anyio cancel scope that keeps cancelling every ``await`` until the
body iterator has finished. An engine stream interrupted that way could not
run its own cleanup (stop its decode loop, free its batch slot). So the
generation runs in its own task (``pumped``) and the response only reads a
queue: on disconnect the task is cancelled once, plainly, and its cleanup
(``GenerationRun.aclose`` → engine ``aclose``) runs to the end, shielded.
``primed`` fetches up to the first output before the response starts, so a
refusal the engine makes when it starts is still an error status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
from fastapi.responses import StreamingResponse

from oculi import logs

T = TypeVar("T")

_DONE = object()

#: Headers every event stream carries (no proxy buffering, no caching).
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def data_line(payload: dict[str, Any] | str) -> bytes:
    """One ``data:`` event (chat completions style)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def event(name: str, payload: dict[str, Any]) -> bytes:
    """One named event (Responses style: ``event: <type>`` + ``data: {...}``)."""
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def pumped(
    source: AsyncIterator[T], on_close: Callable[[], Awaitable[None]] | None = None, *, buffer: int = 256
) -> AsyncGenerator[T, None]:
    """Iterate ``source`` in its own task (see module docstring); ``on_close`` runs last, shielded."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=buffer)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(item)
        except asyncio.CancelledError:
            raise  # the reader is gone; nobody to tell
        except Exception as exc:  # handed to the reader, which re-raises it
            await queue.put(exc)
            return
        await queue.put(_DONE)

    task = asyncio.create_task(pump(), name=f"sse-pump-{logs.request_id.get()}")
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        with anyio.CancelScope(shield=True):
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if on_close is not None:
                await on_close()


async def primed(
    stream: AsyncGenerator[T, None], ready: Callable[[T], bool] = lambda _: True
) -> AsyncGenerator[T, None]:
    """``stream`` with its items fetched up to the first ``ready`` one.

    Engines check what only they can check (the prompt fits the context, the
    first step runs) when their stream starts. Fetching up to the first real
    output before the response begins lets such a failure still be a proper
    status instead of an error inside a 200 event stream.
    """
    head: list[T] = []
    with contextlib.suppress(StopAsyncIteration):
        while not head or not ready(head[-1]):
            head.append(await anext(stream))

    async def chain() -> AsyncGenerator[T, None]:
        try:
            for item in head:
                yield item
            async for item in stream:
                yield item
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    return chain()


def sse_response(body: AsyncIterator[bytes]) -> StreamingResponse:
    """A ``text/event-stream`` response over ``body``."""
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)
