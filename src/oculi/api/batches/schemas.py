"""Wire schemas of ``/v1/batches``, in the shape openai-python's ``Batch`` reads (the hosted API's object)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BatchStatus = Literal[
    "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"
]


class BatchCreateRequest(BaseModel):
    """``POST /v1/batches`` body."""

    model_config = ConfigDict(extra="ignore")

    input_file_id: str = Field(description="An uploaded JSONL file: one request per line.")
    endpoint: str = Field(description="'/v1/chat/completions' or '/v1/responses' (every line's url).")
    completion_window: str = Field(
        "24h", description="Only '24h' (how long that is on this server: the batch_window_seconds setting)."
    )
    metadata: dict[str, str] | None = None


class RequestCounts(BaseModel):
    """How many requests finished, and how (``failed`` includes cancelled and expired ones: the error file's lines)."""

    completed: int
    failed: int
    total: int


class BatchErrorItem(BaseModel):
    """Why a batch (or one of its input lines) was refused."""

    code: str
    message: str
    line: int | None = None
    param: str | None = None


class BatchErrors(BaseModel):
    """The list of validation errors of a failed batch."""

    object: Literal["list"] = "list"
    data: list[BatchErrorItem]


class BatchObject(BaseModel):
    """One batch."""

    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    input_file_id: str
    completion_window: str
    status: BatchStatus
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: BatchErrors | None = None
    request_counts: RequestCounts
    metadata: dict[str, str] | None = None


class BatchListResponse(BaseModel):
    """``GET /v1/batches``: a cursor page (pass the last id as ``after`` while ``has_more``)."""

    object: Literal["list"] = "list"
    data: list[BatchObject]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool
