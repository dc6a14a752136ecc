"""Routes of the Responses API (thin: everything happens in ``serving``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from oculi.api.body import ThreadedJSONRoute
from oculi.api.context import CallerDep, RuntimeDep
from oculi.api.responses import serving
from oculi.api.responses.schemas import ResponseCreateRequest, ResponseDeletedResponse, ResponseObject

router = APIRouter(tags=["responses"], route_class=ThreadedJSONRoute)  # big bodies parsed off the loop


@router.post("/v1/responses", response_model=ResponseObject)
async def create_response(
    body: ResponseCreateRequest, runtime: RuntimeDep, caller: CallerDep, request: Request
) -> Response:
    """Create a response (stored unless ``store: false``); ``stream: true`` for SSE events."""
    return await serving.create(body, runtime, caller, request)


@router.get("/v1/responses/{response_id}", response_model=ResponseObject)
async def get_response(response_id: str, runtime: RuntimeDep, caller: CallerDep, request: Request) -> Response:
    """A stored response of this API key; ``include=reasoning.encrypted_content`` adds the signed reasoning blob."""
    # The openai client sends ``include[]=...`` (its array format); curl users write ``include=...``.
    include = request.query_params.getlist("include") + request.query_params.getlist("include[]")
    return await serving.retrieve(response_id, runtime, caller, include)


@router.delete("/v1/responses/{response_id}", response_model=ResponseDeletedResponse)
async def delete_response(response_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """Delete a stored response of this API key."""
    return await serving.delete(response_id, runtime, caller)
