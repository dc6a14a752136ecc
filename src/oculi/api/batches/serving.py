"""``/v1/batches``: create from a JSONL file, retrieve, list, cancel; output files written once when done.

A REST batch's status is derived from its request counts each time it is
read: ``in_progress`` (or ``cancelling`` after a cancel; ``finalizing`` once
its completion window has ended and only running requests remain) while
requests are pending, then the first reader (any replica) takes the
``finalizing`` step with a compare-and-set on the batch's metadata, writes
the output and error JSONL files as files of the batch's owner (purpose
``batch_output``, streamed: ``output.py``), and marks it ``completed`` (or
``cancelled``, or ``expired`` when requests did not start within the window:
they are error lines with code ``batch_expired``, as on the hosted API). A finalizer that died is replaced
after ``FINALIZE_STALE_S``. Input files that are not valid batch files make
a ``failed`` batch whose ``errors`` name the lines (the hosted behaviour).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.responses import Response

from oculi.api.batches import mapper
from oculi.api.batches.mapper import ENDPOINTS, InputFileError
from oculi.api.batches.output import write_outputs
from oculi.api.batches.schemas import BatchCreateRequest, BatchListResponse, BatchStatus
from oculi.api.context import Caller
from oculi.api.wire import json_response
from oculi.errors import InvalidRequest
from oculi.runtime import Runtime
from oculi.service.batches import MAX_ADD
from oculi.store.jobs import BatchRecord

FINALIZE_STALE_S = 120


async def create(body: BatchCreateRequest, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``POST /v1/batches``."""
    if body.endpoint not in ENDPOINTS:
        raise InvalidRequest(
            f"Unsupported endpoint {body.endpoint!r}; oculi batches run {' or '.join(ENDPOINTS)}.", param="endpoint"
        )
    if body.completion_window != "24h":
        raise InvalidRequest("completion_window must be '24h'.", param="completion_window")
    file = await runtime.files.get(caller.owner, body.input_file_id, param="input_file_id")
    _, data = await runtime.store.files.read_file(file.id, caller.owner)
    now = int(time.time())
    meta: dict[str, Any] = {
        "surface": "rest",
        "endpoint": body.endpoint,
        "completion_window": body.completion_window,
        "input_file_id": file.id,
        "metadata": body.metadata,
    }
    try:
        items = mapper.parse_input(data, body.endpoint, caller.owner, runtime.generator.seal)
    except InputFileError as exc:
        errors = [e.model_dump(exclude_none=True) for e in exc.errors]
        meta |= {"status": "failed", "failed_at": now, "errors": errors}
        record = await runtime.batches.create(caller.owner, file.filename, meta)
        return json_response(mapper.to_batch_object(record, "failed"))
    if len(items) > MAX_ADD:
        raise InvalidRequest(
            f"The input file has {len(items)} requests; a batch takes at most {MAX_ADD}. Split the file.",
            param="input_file_id",
        )
    record = await runtime.batches.create(caller.owner, file.filename, meta | {"in_progress_at": now}, sealed=True)
    await runtime.batches.add(record.id, caller.owner, items, sealed_ok=True)
    return await render(runtime, await runtime.batches.get(record.id, caller.owner))


async def retrieve(batch_id: str, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``GET /v1/batches/{id}``."""
    return await render(runtime, await runtime.batches.get(batch_id, caller.owner))


async def cancel(batch_id: str, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``POST /v1/batches/{id}/cancel``."""
    return await render(runtime, await runtime.batches.cancel(batch_id, caller.owner))


async def list_page(runtime: Runtime, caller: Caller, *, limit: int, after: str | None) -> Response:
    """Handle ``GET /v1/batches`` (``limit`` 1..100)."""
    if not 1 <= limit <= 100:
        raise InvalidRequest(f"limit must be between 1 and 100, got {limit}.", param="limit")
    records = await runtime.batches.list_batches(caller.owner, limit=limit + 1, after=after)
    page = records[:limit]
    data = [mapper.to_batch_object(r, await settle(runtime, r)) for r in page]
    return json_response(
        BatchListResponse(
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            has_more=len(records) > limit,
        )
    )


async def render(runtime: Runtime, record: BatchRecord) -> Response:
    status = await settle(runtime, record)
    if status in ("completed", "cancelled"):
        record = await runtime.batches.get(record.id, record.owner)  # with the output file ids
    return json_response(mapper.to_batch_object(record, status))


async def settle(runtime: Runtime, record: BatchRecord) -> BatchStatus:
    """The batch's status now; finalizes it (once, whichever replica gets there first) when all requests ended."""
    m = record.metadata
    status: str = m.get("status", "in_progress")
    if status in ("failed", "completed", "cancelled", "expired"):
        return status  # type: ignore[return-value]
    if record.counts.pending > 0:
        if record.cancelled_at is not None:
            return "cancelling"
        return "finalizing" if record.expired_at is not None else "in_progress"
    now = int(time.time())
    if status == "finalizing" and now - int(m.get("finalizing_at", 0)) < FINALIZE_STALE_S:
        return "finalizing"
    claimed = m | {"status": "finalizing", "finalizing_at": now}
    if not await runtime.store.batches.update_batch_metadata(record.id, m, claimed):
        return "finalizing"  # another reader took the step
    output_file_id, error_file_id = await write_outputs(runtime.store.batches, runtime.files, record)
    final = "cancelled" if record.cancelled_at is not None else "expired" if record.expired_at else "completed"
    done = claimed | {
        "status": final,
        f"{final}_at": int(time.time()),
        "output_file_id": output_file_id,
        "error_file_id": error_file_id,
    }
    await runtime.store.batches.update_batch_metadata(record.id, claimed, done)
    record.metadata = done
    return final  # type: ignore[return-value]
