"""``serve(settings)``: the HTTP API (uvicorn) and the gRPC API in one event loop, one ``Runtime``.

Start order: logging → bind policy → ``Runtime.open`` (engines, store) →
gRPC server → HTTP server. So once ``/health`` answers, both APIs are up.
SIGINT / SIGTERM turn readiness to 503 and stop claiming jobs, stop accepting,
and let in-flight HTTP requests and gRPC calls finish — both drained at once,
each bounded by ``SHUTDOWN_GRACE_SECONDS`` — then close the runtime (background
jobs: finished or handed back within ``job_shutdown_grace_seconds`` counted from
the signal; intake, engines, store). So a stop takes about one grace period (10 s)
at worst, well inside an orchestrator's usual 30 s, and nothing acknowledged is
left half-written.

Bind policy: with no API keys configured anyone who can reach the port could
use the server, so it binds to 127.0.0.1 only, whatever ``host`` says, and
says so in the log.

``python -m oculi.server`` serves with settings from ``OCULI_*`` env vars
(and ``oculi.toml``); ``oculi serve`` (``cli.py``) is the same with flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn

from oculi.api.connections import header_timeout_protocol
from oculi.app import create_app
from oculi.logs import setup_logging
from oculi.memory import limit_arenas
from oculi.runtime import Runtime
from oculi.settings import Settings

if TYPE_CHECKING:
    from oculi.engines.registry import EngineRegistry

log = logging.getLogger("oculi.server")

LOOPBACK = "127.0.0.1"
SHUTDOWN_GRACE_SECONDS = 10


def bind_policy(settings: Settings) -> Settings:
    """``settings`` with ``host`` forced to 127.0.0.1 when no API key is configured."""
    if settings.all_api_keys():
        return settings
    if settings.host not in (LOOPBACK, "localhost"):
        log.warning(
            "No API keys configured: refusing to listen on %s; binding to %s only. "
            "Configure --api-key (OCULI_API_KEYS) to serve other machines.",
            settings.host,
            LOOPBACK,
        )
    else:
        log.warning("No API keys configured: authentication is off and the server listens on %s only.", LOOPBACK)
    return settings.model_copy(update={"host": LOOPBACK})


class _Server(uvicorn.Server):
    """Uvicorn, but a signal only asks it to exit: ``serve`` still closes gRPC and the runtime afterwards.

    (Uvicorn's own handler re-raises the signal once its server has stopped,
    which would kill the process before the runtime is closed.)
    """

    #: Called at the signal, before the HTTP server drains (the job worker stops claiming then).
    on_exit: Callable[[], None] | None = None

    def _on_signal(self, sig: int) -> None:
        if self.on_exit is not None:
            self.on_exit()
        self.handle_exit(sig, None)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread / not supported here
                pass
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)


async def serve(settings: Settings, *, registry: EngineRegistry | None = None) -> None:
    """Serve HTTP and gRPC until SIGINT / SIGTERM (``registry`` may be injected: tests, benchmarks)."""
    setup_logging(settings.log_level, json_lines=settings.log_json)
    settings = bind_policy(settings)
    limit_arenas(settings.malloc_arena_max)  # before the engines' and intake's threads start
    runtime = await Runtime.open(settings, registry=registry)
    grpc_server = None
    try:
        app = create_app(runtime)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
            http=header_timeout_protocol(settings.request_header_timeout),
            timeout_keep_alive=int(settings.keep_alive_timeout),
            limit_concurrency=settings.max_connections,
        )
        if settings.grpc_port:
            from oculi.grpc.server import start_grpc_server

            grpc_server = await start_grpc_server(runtime, settings.host, settings.grpc_port)
        log.info(
            "oculi serving models %s: HTTP on http://%s:%d%s",
            ", ".join(runtime.registry.ids()),
            settings.host,
            settings.port,
            f", gRPC on {settings.host}:{settings.grpc_port}" if grpc_server is not None else " (gRPC off)",
        )
        log.info("playground (web page): open http://%s:%d/ in a browser", settings.host, settings.port)
        http_server = _Server(config)
        grpc_stopping: list[asyncio.Future[None]] = []

        def on_signal() -> None:
            runtime.begin_draining()
            if grpc_server is not None and not grpc_stopping:
                # gRPC drains while HTTP does: a stop then takes one grace period, not two.
                grpc_stopping.append(asyncio.ensure_future(grpc_server.stop(SHUTDOWN_GRACE_SECONDS)))

        http_server.on_exit = on_signal
        await http_server.serve()
    finally:
        log.info("shutting down")
        if grpc_server is not None:
            await (grpc_stopping[0] if grpc_stopping else grpc_server.stop(SHUTDOWN_GRACE_SECONDS))
        await runtime.close()
        log.info("stopped")


def main() -> None:
    """``python -m oculi.server``: serve with settings from the environment."""
    asyncio.run(serve(Settings()))


if __name__ == "__main__":
    main()
