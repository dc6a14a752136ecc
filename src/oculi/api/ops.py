"""Operational endpoints: ``GET /health`` (liveness), ``GET /health/ready`` (readiness), ``GET /metrics``.

Liveness answers "is the process serving at all" and stays cheap: an orchestrator
restarts a container whose liveness fails, so it must not fail because the
database is down. Readiness answers "send traffic here now": 503 while the
store does not answer, an engine cannot serve, or the server drains after
SIGTERM (before the engines are loaded nothing listens yet). Both are public,
because probes carry no API key, and then say only ok / not ok; the details
need a key. Which paths need no key is decided in one place,
``middleware.PUBLIC_PATHS``.
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


@router.get("/health/ready")
async def ready(runtime: RuntimeDep, request: Request) -> Response:
    """Readiness: 200 ``ok`` or 503 ``unavailable`` (see module docstring); reasons only with a key."""
    problems = await runtime.readiness()
    status_code = 503 if problems else 200
    body: dict[str, object] = {"status": "unavailable" if problems else "ok"}
    try:
        runtime.auth.owner(request.headers.get("authorization"))
    except Unauthenticated:
        return JSONResponse(body, status_code=status_code)
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=status_code)


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text exposition of oculi's metrics (job and batch counts read from the store now)."""
    await runtime.refresh_job_metrics()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
