"""Large JSON bodies are parsed in a thread, so ``/health`` and streaming answers stay fast.

FastAPI parses a request body with ``json.loads`` on the event loop. A chat
request with ten 1 MB images is a 14 MB body: a dozen of them at once kept
the loop busy for seconds (``/health`` took 2.3 s). ``ThreadedJSONRoute`` is
FastAPI's documented hook for this (a custom ``APIRoute`` with its own
``Request`` class); routers that take large bodies use it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

#: Bodies at least this large are parsed off the event loop (smaller ones cost less than the hand-off).
THREAD_ABOVE_BYTES = 256 * 1024


class ThreadedJSONRequest(Request):
    """A request whose ``json()`` parses large bodies in a worker thread."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) >= THREAD_ABOVE_BYTES:
                self._json = await asyncio.to_thread(json.loads, body)
            else:
                self._json = json.loads(body)
        return self._json


class ThreadedJSONRoute(APIRoute):
    """An ``APIRoute`` whose handler sees a ``ThreadedJSONRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def threaded_json_handler(request: Request) -> Response:
            return await handler(ThreadedJSONRequest(request.scope, request.receive))

        return threaded_json_handler
