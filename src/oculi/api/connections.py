"""Connection hygiene for the HTTP server (SPEC §10): header and body timeouts.

Uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) and the
number of connections and tasks (``limit_concurrency``, a 503 beyond it), but
not the time a client may take to send a request: a connection that sends
nothing, or a request line and then one header byte a second, is held
forever. Two pieces close that gap:

- ``header_timeout_protocol``: uvicorn's own HTTP protocol class with a timer
  from the moment the connection opens (and again after each response) until
  the next request's headers are complete; when it fires, a client that sent
  part of a request gets a 408 and the connection is closed.
- ``BodyDeadline`` (used by the request middleware): the whole body must
  arrive within ``request_body_timeout`` seconds; a client trickling it is cut
  off with a 408 while every other connection is served.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import Message, Receive

from oculi.errors import RequestTimeout


def header_timeout_error(seconds: float) -> RequestTimeout:
    """The 408 for a client that did not finish its request headers in time."""
    return RequestTimeout(
        f"The request headers did not arrive within {seconds:g} seconds. Send the whole request at once."
    )


def body_timeout_error(seconds: float) -> RequestTimeout:
    """The 408 for a client that did not finish its request body in time."""
    return RequestTimeout(
        f"The request body did not arrive within {seconds:g} seconds. Send the body at once, "
        "or send smaller requests over a slow connection."
    )


def header_timeout_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """Uvicorn's automatically chosen HTTP protocol (httptools or h11) with a header timeout."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol

    class HeaderTimeoutProtocol(base):  # type: ignore[misc]
        """Closes connections whose next request's headers do not arrive in ``header_timeout`` seconds."""

        _header_timer: asyncio.TimerHandle | None = None
        _waiting_since_cycle: object = None
        _bytes_seen = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            self._bytes_seen = True
            super().data_received(data)
            if self._header_timer is not None and self.cycle is not self._waiting_since_cycle:
                self._disarm()  # a new request's headers are complete: the body has its own deadline

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._waiting_since_cycle = self.cycle
            self._bytes_seen = False
            self._header_timer = self.loop.call_later(header_timeout, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.cycle is not self._waiting_since_cycle:
                return
            if self._bytes_seen:  # part of a request came: say why it is cut off
                error = header_timeout_error(header_timeout)
                body = json.dumps(error.http_body()).encode()
                head = (
                    f"HTTP/1.1 {error.status} Request Timeout\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
                )
                self.transport.write(head.encode() + body)
            self.transport.close()

    return HeaderTimeoutProtocol


class BodyDeadline:
    """Wraps an ASGI ``receive`` so the request body must be complete by a deadline.

    Only reads of the body are timed: once it is complete, ``receive`` is what
    a streaming endpoint waits on for the client's disconnect, for as long as
    the answer takes. On expiry the app sees a disconnect and ``expired`` is set.
    """

    def __init__(self, receive: Receive, seconds: float) -> None:
        self._receive = receive
        self.seconds = seconds
        self._deadline = time.monotonic() + seconds
        self._body_done = False
        self.expired = False

    async def __call__(self) -> Message:
        if self._body_done or self.seconds <= 0:
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), max(0.0, self._deadline - time.monotonic()))
        except TimeoutError:
            self.expired = True
            self._body_done = True
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_done = True
        return message
