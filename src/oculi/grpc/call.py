"""What every RPC goes through: request id, API key, metrics, and the one error mapping.

Each servicer method is written as ``async def Method(self, request, call)``
(or an async generator for server streaming) and decorated with ``unary`` or
``streaming``. The wrapper gives the call an id (sent back as ``x-request-id``
initial metadata and used as the generation id, so it is also the response
id), turns the ``authorization: Bearer`` metadata into the caller's owner id,
and maps failures to gRPC statuses HERE and nowhere else:

- an ``OculiError`` becomes ``grpc.StatusCode[error.grpc_status]`` with the
  error's message as details (and its short ``code`` / ``param`` and any
  ``retry-after`` as trailing metadata ``x-error-code`` / ``x-error-param`` /
  ``retry-after``);
- anything else is a bug: logged with the request id, answered ``INTERNAL``
  with only that id, never the exception text.

``UNAVAILABLE`` therefore only ever comes from ``oculi.errors.Unavailable``
(transient failures): the xai-sdk client retries that status five times.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from oculi import logs
from oculi.errors import OculiError

if TYPE_CHECKING:
    from oculi.runtime import Runtime

log = logging.getLogger(__name__)
access_log = logging.getLogger("oculi.access")

REQUEST_ID_METADATA = "x-request-id"
SURFACE = "grpc"

Req = TypeVar("Req")
Resp = TypeVar("Resp")
S = TypeVar("S", bound="Servicer")


@dataclass
class Call:
    """One RPC as a servicer method sees it: its id, the caller, and the raw context."""

    id: str
    owner: str
    api_key: str | None
    context: grpc.aio.ServicerContext[Any, Any]


class Servicer:
    """Base of the servicers: they hold the runtime and nothing else."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime


@contextlib.asynccontextmanager
async def observed(servicer: Servicer, context: grpc.aio.ServicerContext[Any, Any], method: str) -> AsyncIterator[Call]:
    """The frame of every RPC (see the module docstring): id, auth, error mapping, metrics and access log."""
    started = time.perf_counter()
    status = grpc.StatusCode.OK
    call_id = logs.new_request_id()
    # Every log line of this call carries the id; grpc.aio runs each RPC in its own task,
    # so the value does not leak into other calls.
    logs.request_id.set(call_id)
    try:
        yield await begin(servicer.runtime, context, call_id)
    except Exception as exc:
        status = status_of(exc)
        await fail(context, exc, status, call_id, method)
        raise  # fail() has aborted the call; this re-raise is never reached
    except BaseException:
        # The client went away (cancellation) or the stream was closed: the
        # servicer's own ``finally`` blocks stop the generation.
        status = grpc.StatusCode.CANCELLED
        raise
    finally:
        record(servicer.runtime, method, status, started)


def unary(
    method: str,
) -> Callable[
    [Callable[[S, Req, Call], Awaitable[Resp]]],
    Callable[[S, Req, grpc.aio.ServicerContext[Any, Any]], Awaitable[Resp]],
]:
    """Wrap a unary-unary servicer method ``method`` ("Service/Method"); see the module docstring."""

    def decorate(
        fn: Callable[[S, Req, Call], Awaitable[Resp]],
    ) -> Callable[[S, Req, grpc.aio.ServicerContext[Any, Any]], Awaitable[Resp]]:
        @functools.wraps(fn)
        async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext[Any, Any]) -> Resp:
            async with observed(self, context, method) as call:
                return await fn(self, request, call)

        return wrapper

    return decorate


def streaming(
    method: str,
) -> Callable[
    [Callable[[S, Req, Call], AsyncGenerator[Resp, None]]],
    Callable[[S, Req, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Resp]],
]:
    """Wrap a unary-stream servicer method (an async generator); see the module docstring."""

    def decorate(
        fn: Callable[[S, Req, Call], AsyncGenerator[Resp, None]],
    ) -> Callable[[S, Req, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Resp]]:
        @functools.wraps(fn)
        async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Resp]:
            # aclosing: a cancelled call must run the servicer's cleanup now, not at GC.
            async with (
                observed(self, context, method) as call,
                contextlib.aclosing(fn(self, request, call)) as messages,
            ):
                async for message in messages:
                    yield message

        return wrapper

    return decorate


async def begin(runtime: Runtime, context: grpc.aio.ServicerContext[Any, Any], call_id: str) -> Call:
    """Announce the request id, then authenticate (``Unauthenticated`` on a missing / wrong key)."""
    await context.send_initial_metadata(((REQUEST_ID_METADATA, call_id),))
    authorization = metadata_value(context, "authorization")
    owner = runtime.auth.owner(authorization)
    return Call(call_id, owner, runtime.auth.key_from_header(authorization), context)


def metadata_value(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    """The first value of invocation metadata ``key`` (keys are lower-case on the wire)."""
    for item in context.invocation_metadata() or ():
        name, value = item[0], item[1]
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def status_of(exc: Exception) -> grpc.StatusCode:
    """The gRPC status of a failure: the error's own for an ``OculiError``, else INTERNAL."""
    if isinstance(exc, OculiError):
        return grpc.StatusCode[exc.grpc_status]
    return grpc.StatusCode.INTERNAL


async def fail(
    context: grpc.aio.ServicerContext[Any, Any],
    exc: Exception,
    status: grpc.StatusCode,
    call_id: str,
    method: str,
) -> None:
    """Abort the call with ``status`` (from ``status_of``); always raises."""
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    if isinstance(exc, OculiError):
        trailer = [("x-error-code", exc.code)]
        if exc.param is not None:
            trailer.append(("x-error-param", exc.param))
        trailer.extend(exc.http_headers().items())  # e.g. retry-after on RESOURCE_EXHAUSTED
        if status is grpc.StatusCode.INTERNAL:
            log.error("grpc %s failed (request %s): %s", method, call_id, exc.message)
        else:
            log.info("grpc %s refused (request %s): %s %s", method, call_id, status.name, exc.message)
        await context.abort(status, exc.message, trailing_metadata=tuple(trailer))
    log.exception("grpc %s failed (request %s)", method, call_id)
    await context.abort(
        grpc.StatusCode.INTERNAL,
        f"Internal server error. Quote request id {call_id} when reporting it.",
        trailing_metadata=(("x-error-code", "internal_error"),),
    )
    raise AssertionError("context.abort returned")  # abort always raises


def record(runtime: Runtime, method: str, status: grpc.StatusCode, started: float) -> None:
    """Count the call and its latency in the shared metrics, and write its access-log line."""
    elapsed = time.perf_counter() - started
    metrics = runtime.metrics
    metrics.requests.labels(SURFACE, method, status.name).inc()
    metrics.request_latency.labels(SURFACE, method).observe(elapsed)
    access_log.info(
        "GRPC %s %s %.1fms",
        method,
        status.name,
        elapsed * 1000,
        extra={"method": "GRPC", "path": method, "status": status.name, "latency_ms": round(elapsed * 1000, 2)},
    )
