"""Open operational endpoints: ``GET /health`` and ``GET /metrics`` (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from oculi.api.context import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(runtime: RuntimeDep) -> Response:
    """Liveness and what is served; answers while generations run.

    An engine that can no longer serve (e.g. vLLM's engine process died) reports
    a ``problem``; then the status is ``unavailable`` with HTTP 503 and the problems by model.
    """
    admission = runtime.generator.admission
    problems = {e.info.id: p for e in runtime.registry.engines() if (p := getattr(e, "problem", None))}
    return JSONResponse(
        {
            "status": "unavailable" if problems else "ok",
            **({"problems": problems} if problems else {}),
            "models": runtime.registry.ids(),
            "default_model": runtime.registry.default.info.id,
            "active_requests": admission.active,
            "auth": runtime.auth.enabled,
        },
        status_code=503 if problems else 200,
    )


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text exposition of oculi's metrics."""
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
