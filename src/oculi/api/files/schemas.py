"""Wire schemas of the Files API, in the shape openai-python's ``FileObject`` / ``FileDeleted`` read.

The hosted xAI API documents the same object (``id``, ``object: "file"``,
``bytes``, ``created_at``, ``filename``, ``purpose``, and ``expires_at``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class FileObject(BaseModel):
    """One uploaded file."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["processed"] = "processed"  # stored durably before the upload is answered
    expires_at: int | None = None
    status_details: str | None = None


class FileListResponse(BaseModel):
    """``GET /v1/files``: a cursor page (pass the last id as ``after`` while ``has_more``)."""

    object: Literal["list"] = "list"
    data: list[FileObject]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None
    pagination_token: str | None = None  # xAI's name for the cursor (same value as last_id when has_more)


class FileDeletedResponse(BaseModel):
    """``DELETE /v1/files/{id}``."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool = True
