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
    """Liveness and what is served; answers while generations run.

    An engine that can no longer serve (e.g. vLLM's engine process died) reports
    a ``problem``; then the status is ``unavailable`` with HTTP 503. Details
    (models, problems, load) only for a caller with a key, or with no keys
    configured: an anonymous caller learns only ok / not ok (SPEC §10).
    """
    problems = {e.info.id: p for e in runtime.registry.engines() if (p := getattr(e, "problem", None))}
    status_code = 503 if problems else 200
    status = "unavailable" if problems else "ok"
    try:
        runtime.auth.owner(request.headers.get("authorization"))
    except Unauthenticated:
        return JSONResponse({"status": status}, status_code=status_code)
    admission = runtime.generator.admission
    return JSONResponse(
        {
            "status": status,
            **({"problems": problems} if problems else {}),
            "models": runtime.registry.ids(),
            "default_model": runtime.registry.default.info.id,
            "active_requests": admission.active,
            "auth": runtime.auth.enabled,
        },
        status_code=status_code,
    )


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text exposition of oculi's metrics (job and batch counts read from the store now)."""
    await runtime.refresh_job_metrics()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
