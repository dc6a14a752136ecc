"""``create_app(runtime)``: the HTTP API as one FastAPI app, no module globals.

Request flow: ``RequestContextMiddleware`` (request id, body limit, access
log, metrics) → a surface router (``api/chat``, ``api/responses``, ...) whose
handler converts the wire schema to the domain, runs the shared pipeline
(``runtime.generator``) and renders the result → errors anywhere are mapped
once, in ``api/errors.py``. The OpenAPI page is at ``/docs``.
"""

from __future__ import annotations

import time

from fastapi import FastAPI

from oculi import __version__
from oculi.api.batches.router import router as batches_router
from oculi.api.chat.router import router as chat_router
from oculi.api.errors import install_error_handlers
from oculi.api.files.router import router as files_router
from oculi.api.files.upload import MULTIPART_SLACK
from oculi.api.middleware import PUBLIC_PATHS, RequestContextMiddleware
from oculi.api.models.router import router as models_router
from oculi.api.ops import router as ops_router
from oculi.api.playground.router import router as playground_router
from oculi.api.responses.router import router as responses_router
from oculi.api.tokenize.router import router as tokenize_router
from oculi.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    """The HTTP app serving ``runtime`` (the caller owns the runtime's lifetime)."""
    app = FastAPI(
        title="oculi",
        version=__version__,
        description="Self-hosted image understanding, wire-compatible with the xAI and OpenAI APIs.",
        docs_url="/docs",
        redoc_url="/redoc",
    )
    app.state.runtime = runtime
    app.state.started_at = time.time()
    for router in (chat_router, responses_router, models_router, tokenize_router, ops_router):
        app.include_router(router)
    app.include_router(playground_router)  # the web page at /playground (/ redirects there)
    app.include_router(files_router)
    app.include_router(batches_router)
    install_error_handlers(app)
    settings = runtime.settings
    upload_limit = max(settings.max_body_bytes, settings.max_file_bytes + MULTIPART_SLACK)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=runtime.metrics,
        max_body_bytes=runtime.settings.max_body_bytes,
        authenticate=runtime.auth.owner,
        # Uploads check the file's own size while streaming; the body may exceed it by the form's fields.
        path_limits={"/v1/files": upload_limit},
        public_paths=(*PUBLIC_PATHS, "/metrics") if runtime.settings.metrics_public else PUBLIC_PATHS,
        body_timeout=runtime.settings.request_body_timeout,
    )
    return app
