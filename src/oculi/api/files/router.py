"""Routes of the Files API (thin: everything happens in ``serving``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from oculi.api.context import CallerDep, RuntimeDep
from oculi.api.files import serving
from oculi.api.files.schemas import FileDeletedResponse, FileListResponse, FileObject

router = APIRouter(tags=["files"])


@router.post("/v1/files", response_model=FileObject)
async def upload_file(runtime: RuntimeDep, caller: CallerDep, request: Request) -> Response:
    """Upload a file (multipart/form-data: ``file``, optional ``purpose`` and ``expires_after``)."""
    return await serving.upload(runtime, caller, request)


@router.get("/v1/files", response_model=FileListResponse)
async def list_files(
    runtime: RuntimeDep,
    caller: CallerDep,
    limit: int | None = None,
    after: str | None = None,
    order: str = "desc",
    purpose: str | None = None,
    sort_by: str = "created_at",
    pagination_token: Annotated[str | None, Query(description="xAI's name for `after`.")] = None,
) -> Response:
    """This API key's files, newest first by default; page with ``after`` (or ``pagination_token``)."""
    return await serving.list_page(
        runtime, caller, limit=limit, after=after or pagination_token, order=order, purpose=purpose, sort_by=sort_by
    )


@router.get("/v1/files/{file_id}", response_model=FileObject)
async def retrieve_file(file_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """One file's metadata."""
    return await serving.retrieve(file_id, runtime, caller)


@router.get("/v1/files/{file_id}/content")
async def file_content(file_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """The file's bytes, streamed."""
    return await serving.content(file_id, runtime, caller)


@router.delete("/v1/files/{file_id}", response_model=FileDeletedResponse)
async def delete_file(file_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """Delete the file (its bytes go when no other file has the same content)."""
    return await serving.delete(file_id, runtime, caller)
