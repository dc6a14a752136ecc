"""Operational endpoints: ``GET /health`` (public, details with a key) and ``GET /metrics`` (key needed).

Which paths need no key is decided in one place, ``middleware.PUBLIC_PATHS``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from oculi.api.context import RuntimeDep
from oculi.errors import Unauthenticated

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(runtime: RuntimeDep, request: Request) -> Response:
    """Liveness; answers while generations run. What is served only for a caller with a key (or with no keys)."""
    try:
        runtime.auth.owner(request.headers.get("authorization"))
    except Unauthenticated:
        return JSONResponse({"status": "ok"})  # SPEC §10: an anonymous caller learns only ok / not ok
    admission = runtime.generator.admission
    return JSONResponse(
        {
            "status": "ok",
            "models": runtime.registry.ids(),
            "default_model": runtime.registry.default.info.id,
            "active_requests": admission.active,
            "auth": runtime.auth.enabled,
        }
    )


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text exposition of oculi's metrics (job and batch counts read from the store now)."""
    await runtime.refresh_job_metrics()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
