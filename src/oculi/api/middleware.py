"""The one ASGI middleware every HTTP request passes: request id, body limit, access log, metrics, bug catcher.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so streaming responses and
client disconnects pass through untouched.

- ``x-request-id``: taken from the request when it is a sane token, otherwise
  fresh; set in ``logs.request_id`` for every log line and added to every
  response, errors included.
- Body limit (413): refused from ``Content-Length`` before reading, and
  counted while reading for chunked bodies. ``path_limits`` raises it for
  exact paths (file uploads, which check their own size as they stream). A body over the limit is cut off
  (the app sees a disconnect, so nothing more is buffered) and the client
  gets the 413 instead of whatever the app made of the truncated body.
- Body deadline (408): the whole body must arrive within
  ``body_timeout`` seconds (``connections.BodyDeadline``).
- Authentication of every path but ``PUBLIC_PATHS`` happens here, before
  the body is read, so a caller without a valid key cannot make the server
  buffer or parse a large body, and always gets the 401 first. (The
  endpoints still take the caller from ``context.get_caller``, which applies
  the same rule.) With no keys configured nothing is checked.
- Any exception that escapes the app is a bug: logged with its traceback
  under the request id, answered with a 500 that carries only that id.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oculi import logs
from oculi.api.connections import BodyDeadline, body_timeout_error
from oculi.api.errors import internal_error_response, oculi_error_response
from oculi.errors import PayloadTooLarge, Unauthenticated
from oculi.metrics import Metrics

access_log = logging.getLogger("oculi.access")
log = logging.getLogger(__name__)

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

#: THE paths that answer without an API key when keys are configured (SPEC §10: health, and the
#: web page). An entry ending in "/" (other than the root itself, which is exact) admits every path
#: under it. ``/health`` and ``/health/ready`` (probes carry no key) then say only ok / not ok; the
#: page's API calls all need the key.
PUBLIC_PATHS: tuple[str, ...] = ("/health", "/health/ready", "/", "/playground", "/playground/")


def is_public(path: str, public: tuple[str, ...] = PUBLIC_PATHS) -> bool:
    """Whether ``path`` answers without a key (see ``PUBLIC_PATHS``)."""
    return any(path == p or (p != "/" and p.endswith("/") and path.startswith(p)) for p in public)


_SURFACES = (("/v1/chat", "chat"), ("/v1/responses", "responses"))


def _surface(path: str) -> str:
    for prefix, name in _SURFACES:
        if path.startswith(prefix):
            return name
    return "http"


def _too_large(limit: int, size: int | None = None) -> PayloadTooLarge:
    got = f" ({size} bytes)" if size is not None else ""
    return PayloadTooLarge(
        f"The request body{got} is larger than this server's limit of {limit} bytes. "
        "Send fewer or smaller images per request (or raise max_body_bytes on the server)."
    )


class RequestContextMiddleware:
    """See module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        authenticate: Callable[[str | None], object] | None = None,
        path_limits: dict[str, int] | None = None,
        public_paths: tuple[str, ...] = PUBLIC_PATHS,
        body_timeout: float = 0,
    ) -> None:
        self.app = app
        self.path_limits = path_limits or {}
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.authenticate = authenticate
        self.public_paths = public_paths
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        incoming = headers.get("x-request-id", "")
        rid = incoming if _SANE_ID.match(incoming) else logs.new_request_id()
        token = logs.request_id.set(rid)
        start = time.perf_counter()
        state: dict[str, Any] = {"status": 0, "started": False, "body_bytes": 0, "over_limit": False}
        limit = self.path_limits.get(scope.get("path", ""), self.max_body_bytes)
        timed_receive = BodyDeadline(receive, self.body_timeout)

        async def send_with_id(message: Message) -> None:
            if (state["over_limit"] or timed_receive.expired) and not state.get("sending_413"):
                return  # the app answered a truncated body; the 413 / 408 replaces its answer
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                message.setdefault("headers", [])
                if not any(k.lower() == b"x-request-id" for k, _ in message["headers"]):
                    message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        async def counting_receive() -> Message:
            message = await timed_receive()
            if message["type"] == "http.request":
                state["body_bytes"] += len(message.get("body", b""))
                if state["body_bytes"] > limit:
                    state["over_limit"] = True
                    # Stop the app reading further: it sees a client that went away.
                    return {"type": "http.disconnect"}
            return message

        try:
            if self.authenticate is not None and not is_public(scope.get("path", ""), self.public_paths):
                try:
                    self.authenticate(headers.get("authorization"))
                except Unauthenticated as exc:
                    state["status"] = exc.status
                    await oculi_error_response(exc)(scope, receive, send_with_id)
                    return
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                state["status"] = 413
                await oculi_error_response(_too_large(limit, int(declared)))(scope, receive, send_with_id)
                return
            try:
                await self.app(scope, counting_receive, send_with_id)
            except Exception:
                if not (state["over_limit"] or timed_receive.expired):
                    raise
            if state["over_limit"] and not state["started"]:
                state["sending_413"] = True
                await oculi_error_response(_too_large(limit))(scope, receive, send_with_id)
            elif timed_receive.expired and not state["started"]:
                state["sending_413"] = True
                await oculi_error_response(body_timeout_error(self.body_timeout))(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not state["started"]:
                await internal_error_response()(scope, receive, send_with_id)
            state["status"] = 500
        finally:
            self._account(scope, state, time.perf_counter() - start)
            logs.request_id.reset(token)

    def _account(self, scope: Scope, state: dict[str, Any], elapsed: float) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", None) or "unmatched"
        surface = _surface(scope.get("path", ""))
        status = state["status"] or 499  # 499: the client went away before any answer
        self.metrics.requests.labels(surface, endpoint, str(status)).inc()
        self.metrics.request_latency.labels(surface, endpoint).observe(elapsed)
        access_log.info(
            "%s %s %s %.1fms",
            scope.get("method"),
            scope.get("path"),
            status,
            elapsed * 1000,
            extra={
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "latency_ms": round(elapsed * 1000, 2),
                "body_bytes": state["body_bytes"],
                "client": (scope.get("client") or ("-",))[0],
            },
        )
