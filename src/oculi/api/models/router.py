"""Routes: ``/v1/models[/{id}]``, ``/v1/language-models[/{id}]``, ``/v1/api-key``."""

from __future__ import annotations

import hashlib
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from oculi.api.context import CallerDep, RuntimeDep
from oculi.api.models.mapper import DEFAULT_ALIAS_NOTE, to_language_model, to_model_entry
from oculi.api.models.schemas import (
    ApiKeyResponse,
    LanguageModelEntry,
    LanguageModelListResponse,
    ModelEntry,
    ModelListResponse,
)
from oculi.api.wire import json_response
from oculi.auth import Authenticator
from oculi.engines.base import Engine
from oculi.runtime import Runtime

router = APIRouter(tags=["models"])


def _aliases(runtime: Runtime, engine: Engine) -> list[str]:
    names = runtime.registry.alias_names(engine)
    return [*names, DEFAULT_ALIAS_NOTE] if engine is runtime.registry.default else names


@router.get("/v1/models", response_model=ModelListResponse)
async def list_models(runtime: RuntimeDep, caller: CallerDep) -> Response:
    """Served models, default first."""
    entries = [to_model_entry(e.info) for e in runtime.registry.engines()]
    return json_response(ModelListResponse(data=entries))


@router.get("/v1/models/{model_id:path}", response_model=ModelEntry)
async def get_model(model_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """One model by id or alias (404 for an unknown name)."""
    return json_response(to_model_entry(runtime.registry.resolve(model_id).info))


@router.get("/v1/language-models", response_model=LanguageModelListResponse)
async def list_language_models(runtime: RuntimeDep, caller: CallerDep) -> Response:
    """Served models, xAI shape (input modalities, aliases)."""
    engines = runtime.registry.engines()
    entries = [to_language_model(e.info, _aliases(runtime, e)) for e in engines]
    return json_response(LanguageModelListResponse(models=entries))


@router.get("/v1/language-models/{model_id:path}", response_model=LanguageModelEntry)
async def get_language_model(model_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """One model by id or alias, xAI shape."""
    engine = runtime.registry.resolve(model_id)
    return json_response(to_language_model(engine.info, _aliases(runtime, engine)))


@router.get("/v1/api-key", response_model=ApiKeyResponse)
async def get_api_key(request: Request, caller: CallerDep) -> Response:
    """The calling key, redacted, with what it may do (every model and endpoint).

    Keys come from configuration, so their creation time is when this server started.
    """
    key = caller.key or ""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(request.app.state.started_at))
    key_id = hashlib.sha256(key.encode()).hexdigest()[:16] if key else "anonymous"
    return json_response(
        ApiKeyResponse(
            redacted_api_key=Authenticator.redact(key) if key else "",
            user_id=caller.owner or "anonymous",
            name="oculi key" if key else "anonymous (no API keys configured)",
            create_time=started,
            modify_time=started,
            modified_by="oculi",
            team_id="oculi",
            acls=["api-key:model:*", "api-key:endpoint:*"],
            api_key_id=key_id,
        )
    )
