"""Files API handlers: read the wire (multipart form, query), call ``FileService``, render.

Another key's file is a 404 exactly like an unknown one, so ids reveal nothing.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, cast
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from oculi.api.context import Caller
from oculi.api.files.schemas import FileDeletedResponse, FileListResponse, FileObject
from oculi.api.files.upload import read_upload
from oculi.api.wire import json_response
from oculi.errors import InvalidRequest
from oculi.runtime import Runtime
from oculi.store.base import FileSort, StoredFile

_SORTS: dict[str, FileSort] = {"created_at": "created_at", "filename": "filename", "size": "bytes", "bytes": "bytes"}


def to_file_object(file: StoredFile) -> FileObject:
    """Domain file → wire ``FileObject``."""
    return FileObject(
        id=file.id,
        bytes=file.bytes,
        created_at=file.created_at,
        filename=file.filename,
        purpose=file.purpose,
        expires_at=file.expires_at,
    )


async def upload(runtime: Runtime, caller: Caller, request: Request) -> Response:
    """Handle ``POST /v1/files``: the file streams into a spool (size and quota checked as it comes)."""
    spool = partial(runtime.files.spool, caller.owner)
    form = await read_upload(request, spool, max_file_bytes=runtime.settings.max_file_bytes)
    if form.file is None:
        raise InvalidRequest(
            "The upload has no file: send it as the multipart part named 'file' (curl -F file=@photo.png).",
            param="file",
        )
    try:
        stored = await runtime.files.store_spooled(
            caller.owner,
            form.filename,
            form.fields.get("purpose"),
            form.file,
            expires_after=_expires_after(form.fields),
        )
    finally:
        form.file.file.close()
    return json_response(to_file_object(stored))


def _expires_after(fields: dict[str, str]) -> int | None:
    """xAI's plain ``expires_after`` seconds, or the openai client's ``expires_after[anchor|seconds]``."""
    anchor = fields.get("expires_after[anchor]")
    if anchor is not None and anchor != "created_at":
        raise InvalidRequest(
            f"expires_after[anchor] must be 'created_at', got {anchor!r}.", param="expires_after[anchor]"
        )
    for name in ("expires_after", "expires_after[seconds]"):
        value = fields.get(name)
        if value is not None and value != "":
            try:
                return int(value)
            except ValueError:
                raise InvalidRequest(f"{name} must be a whole number of seconds, got {value!r}.", param=name) from None
    return None


async def list_page(
    runtime: Runtime,
    caller: Caller,
    *,
    limit: int | None,
    after: str | None,
    order: str,
    purpose: str | None,
    sort_by: str,
) -> Response:
    """Handle ``GET /v1/files``."""
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"order must be 'asc' or 'desc', got {order!r}.", param="order")
    if sort_by not in _SORTS:
        raise InvalidRequest(f"sort_by must be one of created_at, filename, size; got {sort_by!r}.", param="sort_by")
    page = await runtime.files.list(
        caller.owner,
        limit=limit,
        after=after,
        order=cast(Literal["asc", "desc"], order),
        purpose=purpose,
        sort=_SORTS[sort_by],
    )
    data = [to_file_object(f) for f in page.files]
    return json_response(
        FileListResponse(
            data=data,
            has_more=page.has_more,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            pagination_token=data[-1].id if page.has_more else None,
        )
    )


async def retrieve(file_id: str, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``GET /v1/files/{id}``."""
    return json_response(to_file_object(await runtime.files.get(caller.owner, file_id)))


async def content(file_id: str, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``GET /v1/files/{id}/content``: streamed from the store chunk by chunk."""
    file, chunks = await runtime.files.content(caller.owner, file_id)
    headers = {
        "content-length": str(file.bytes),
        "content-disposition": f"attachment; filename*=UTF-8''{quote(file.filename)}",
    }
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


async def delete(file_id: str, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``DELETE /v1/files/{id}``."""
    await runtime.files.delete(caller.owner, file_id)
    return json_response(FileDeletedResponse(id=file_id))
