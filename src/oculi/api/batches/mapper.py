"""JSONL input lines → ``BatchItem``s; finished jobs → output / error lines; records → ``BatchObject``.

Input lines are the openai batch format::

    {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}

``body`` goes through the same wire schema and mapper as a direct request
to ``url``, so it is refused (or answered) exactly as that request would be.
A line that is not that shape fails the whole batch at validation (status
``failed``, ``errors`` naming the line), as the hosted API does; a body the
endpoint refuses fails only that request.

Output lines (``output_file_id``, one per succeeded request)::

    {"id": "batch_req_…", "custom_id": "r1", "response": {"status_code": 200, "request_id": "…", "body": {…}},
     "error": null}

Error lines (``error_file_id``) have the failed request's status code and
the xAI error body (``{"code", "error"}``), or ``error`` set for a request
that never ran: ``batch_cancelled`` (the batch was cancelled) or
``batch_expired`` (its completion window ended first), as the hosted API writes them.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from oculi.api.batches.schemas import BatchErrorItem, BatchErrors, BatchObject, BatchStatus, RequestCounts
from oculi.api.chat import mapper as chat_mapper
from oculi.api.chat.schemas import ChatCompletionRequest
from oculi.api.responses import mapper as responses_mapper
from oculi.api.responses.schemas import ResponseCreateRequest
from oculi.domain import GenerationParams
from oculi.errors import InvalidRequest, OculiError, SchemaError
from oculi.reasoning.sealed import ReasoningSeal
from oculi.service.batches import BatchItem
from oculi.service.generate import GenerationRequest
from oculi.service.jobs import completion_from_dict
from oculi.store.jobs import BatchRecord, Job, JobState

CHAT, RESPONSES = "/v1/chat/completions", "/v1/responses"
ENDPOINTS = (CHAT, RESPONSES)
MAX_LINE_ERRORS = 20


class InputFileError(Exception):
    """The input file is not a valid batch file; ``errors`` name the lines."""

    def __init__(self, errors: list[BatchErrorItem]) -> None:
        super().__init__(errors[0].message)
        self.errors = errors


def parse_input(data: bytes, endpoint: str | None, owner: str, seal: ReasoningSeal | None = None) -> list[BatchItem]:
    """The file's requests (``InputFileError`` when a line is not a batch line for ``endpoint``).

    ``endpoint`` None (the xai-sdk's ``batch.create(input_file_id=...)``): each
    line's ``url`` may be either supported endpoint, as on the hosted xAI API.
    ``seal``: the server's, so a line carrying a signed reasoning blob is
    verified (and its reasoning used) exactly as in a live request.
    """
    items: list[BatchItem] = []
    errors: list[BatchErrorItem] = []
    seen: set[str] = set()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            [BatchErrorItem(code="invalid_file", message="The input file is not UTF-8 text.")]
        ) from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(parse_line(line, number, endpoint, owner, seen, seal))
        except InputFileError as exc:
            errors += exc.errors
            if len(errors) >= MAX_LINE_ERRORS:
                break
    if not items and not errors:
        errors.append(BatchErrorItem(code="empty_file", message="The input file has no requests."))
    if errors:
        raise InputFileError(errors)
    return items


def parse_line(
    line: str, number: int, endpoint: str | None, owner: str, seen: set[str], seal: ReasoningSeal | None = None
) -> BatchItem:
    """One input line as a ``BatchItem``."""

    def bad(message: str, param: str | None = None) -> InputFileError:
        return InputFileError([BatchErrorItem(code="invalid_request", message=message, line=number, param=param)])

    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        raise bad(f"Line {number} is not valid JSON ({exc.msg}).") from exc
    if not isinstance(entry, dict):
        raise bad(f"Line {number} is not a JSON object.")
    custom_id = entry.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise bad(f"Line {number} has no custom_id (a non-empty string).", "custom_id")
    if custom_id in seen:
        raise bad(f"Line {number} repeats custom_id {custom_id!r}; each must be unique.", "custom_id")
    seen.add(custom_id)
    if entry.get("method", "POST") != "POST":
        raise bad(f"Line {number}: method must be 'POST'.", "method")
    url = entry.get("url")
    if endpoint is None and url not in ENDPOINTS:
        raise bad(f"Line {number}: url {url!r} is not one of {', '.join(ENDPOINTS)}.", "url")
    if endpoint is not None and url != endpoint:
        raise bad(f"Line {number}: url {url!r} differs from the batch's endpoint {endpoint!r}.", "url")
    endpoint = str(url)
    body = entry.get("body")
    if not isinstance(body, dict):
        raise bad(f"Line {number}: body must be a JSON object (the request to {endpoint}).", "body")
    wire = {"endpoint": endpoint, "line": number}
    try:
        return BatchItem(custom_id, to_generation_request(body, endpoint, owner, seal), wire=wire)
    except OculiError as exc:
        return BatchItem(custom_id, refused=exc, wire=wire)


def to_generation_request(
    body: dict[str, Any], endpoint: str, owner: str, seal: ReasoningSeal | None = None
) -> GenerationRequest:
    """The request ``body`` makes at ``endpoint`` (validated by that endpoint's own schema and mapper)."""
    for flag in ("stream", "deferred"):
        if body.get(flag):
            raise InvalidRequest(f"Batch requests cannot set {flag}; remove it from the body.", param=flag)
    try:
        if endpoint == CHAT:
            return chat_mapper.to_generation_request(ChatCompletionRequest.model_validate(body), owner)
        request = responses_mapper.to_generation_request(ResponseCreateRequest.model_validate(body), owner, seal)
        request.store = False  # a batch keeps its results in the batch, not as stored responses
        return request
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise SchemaError(f"Invalid request body at {where}: {first['msg']}.", param=where) from exc


# --- out -----------------------------------------------------------------------------------


def output_line(job: Job, endpoint: str) -> dict[str, Any]:
    """The output-file line of a succeeded request."""
    assert job.result is not None
    completion = completion_from_dict(job.result)
    if endpoint == CHAT:
        body = chat_mapper.to_response(completion).model_dump(mode="json")
    else:
        meta = job.payload.get("metadata") or {}
        facts = responses_mapper.ResponseFacts(
            id=completion.id,
            model=completion.model,
            created_at=completion.created,
            params=job_params(job),
            store=False,
            metadata=meta,
            choice=completion.choices[0],
            usage=completion.usage,
            completed_at=job.finished_at,
        )
        body = responses_mapper.response_dict(responses_mapper.to_response(facts))
    return {
        "id": f"batch_req_{job.id}",
        "custom_id": job.request_key,
        "response": {"status_code": 200, "request_id": job.id, "body": body},
        "error": None,
    }


def error_line(job: Job) -> dict[str, Any]:
    """The error-file line of a failed or cancelled request."""
    line: dict[str, Any] = {"id": f"batch_req_{job.id}", "custom_id": job.request_key, "response": None, "error": None}
    if job.state is JobState.CANCELLED:
        line["error"] = {"code": "batch_cancelled", "message": "The batch was cancelled before this request ran."}
        return line
    if job.state is JobState.EXPIRED:
        line["error"] = {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        }
        return line
    error = job.error or {}
    body = {k: v for k, v in error.items() if k in ("code", "error", "param")}
    line["response"] = {"status_code": error.get("status", 500), "request_id": job.id, "body": body}
    return line


def job_params(job: Job) -> GenerationParams:
    """The sampling parameters a job ran with."""
    return GenerationParams.from_dict(job.payload.get("params") or {})


def to_batch_object(record: BatchRecord, status: BatchStatus) -> BatchObject:
    """The ``Batch`` object of a REST batch in ``status``."""
    m = record.metadata
    c = record.counts
    errors = m.get("errors")
    return BatchObject(
        id=record.id,
        endpoint=m.get("endpoint", CHAT),
        input_file_id=m.get("input_file_id", ""),
        completion_window=m.get("completion_window", "24h"),
        status=status,
        created_at=record.created_at,
        in_progress_at=m.get("in_progress_at"),
        expires_at=record.deadline_at if record.deadline_at is not None else record.expires_at,
        finalizing_at=m.get("finalizing_at"),
        completed_at=m.get("completed_at"),
        failed_at=m.get("failed_at"),
        expired_at=record.expired_at,
        cancelling_at=record.cancelled_at,
        cancelled_at=m.get("cancelled_at"),
        output_file_id=m.get("output_file_id"),
        error_file_id=m.get("error_file_id"),
        errors=BatchErrors(data=[BatchErrorItem(**e) for e in errors]) if errors else None,
        request_counts=RequestCounts(completed=c.succeeded, failed=c.failed + c.cancelled + c.expired, total=c.total),
        metadata=m.get("metadata"),
    )
