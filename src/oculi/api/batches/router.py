"""Routes of ``/v1/batches`` (thin: everything happens in ``serving``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from oculi.api.batches import serving
from oculi.api.batches.schemas import BatchCreateRequest, BatchListResponse, BatchObject
from oculi.api.context import CallerDep, RuntimeDep

router = APIRouter(tags=["batches"])


@router.post("/v1/batches", response_model=BatchObject)
async def create_batch(body: BatchCreateRequest, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """Create a batch from an uploaded JSONL file (``purpose`` 'batch'); its requests run in the background."""
    return await serving.create(body, runtime, caller)


@router.get("/v1/batches", response_model=BatchListResponse)
async def list_batches(runtime: RuntimeDep, caller: CallerDep, limit: int = 20, after: str | None = None) -> Response:
    """This API key's batches, newest first; page with ``after`` (the last id of the previous page)."""
    return await serving.list_page(runtime, caller, limit=limit, after=after)


@router.get("/v1/batches/{batch_id}", response_model=BatchObject)
async def retrieve_batch(batch_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """One batch: status, request counts, and the output / error file ids once finished."""
    return await serving.retrieve(batch_id, runtime, caller)


@router.post("/v1/batches/{batch_id}/cancel", response_model=BatchObject)
async def cancel_batch(batch_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """Cancel: pending requests never run; running ones finish; then the batch is 'cancelled'."""
    return await serving.cancel(batch_id, runtime, caller)
