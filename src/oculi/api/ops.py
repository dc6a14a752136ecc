"""Open operational endpoints: ``GET /health`` and ``GET /metrics`` (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from oculi.api.context import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(runtime: RuntimeDep) -> Response:
    """Liveness and what is served; answers while generations run."""
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
