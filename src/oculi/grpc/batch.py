"""``xai_api.BatchMgmt``: batches of chat completions, as ``client.batch.*`` of the xai-sdk calls them.

Thin: requests map to ``service.batches.BatchItem``s (each
``BatchRequest.completion_request`` through the same ``mapper`` as
``Chat/GetCompletion``), the batch service queues them as durable jobs, and
rows map back to ``Batch`` / ``BatchRequestMetadata`` / ``BatchResult``.

- A request the mapper refuses (tools, an empty image, ...) is not a reason
  to refuse the whole ``AddBatchRequests``: it is recorded as failed, and its
  ``BatchResult.error`` carries the same status and message a direct call
  would have got. Image and video generation requests are refused that way.
- ``Batch.state`` counts requests: ``num_pending`` includes running ones;
  a cancelled batch has ``cancel_time`` and its pending requests count as
  ``num_cancelled``.
- The completion window (``batch_window_seconds``, from creation) is
  ``expire_time``. The proto has no expired state, so a batch whose window
  ended before all its requests started reads as cancelled by the server:
  ``cancel_time`` is when it expired, ``cancel_by_xai_message`` says so, the
  requests that never ran count as ``num_cancelled`` (``STATE_CANCELLED``),
  and each one's result is ``DEADLINE_EXCEEDED`` with code ``batch_expired``.
- Pagination tokens are opaque decimal positions; an empty token ends the list.
- ``GetBatchRequestResult.request`` echoes the original request when it was
  at most ``ECHO_LIMIT`` bytes (kept with the job); for larger ones (big
  inline images) only ``batch_request_id`` and ``model`` are echoed.
- ``CreateBatch`` with ``input_file_id`` reads an uploaded JSONL file in the
  openai batch format (``custom_id``, ``url`` — ``/v1/chat/completions`` or
  ``/v1/responses`` per line —, ``body``; see ``api/batches/mapper.py``) and
  seals the batch: ``AddBatchRequests`` to it is refused.
"""

from __future__ import annotations

import base64

import grpc
from google.protobuf import empty_pb2
from google.rpc import status_pb2

from oculi.api.batches.mapper import InputFileError, parse_input
from oculi.errors import InvalidRequest, OculiError
from oculi.grpc import mapper
from oculi.grpc.call import Call, Servicer, unary
from oculi.grpc.proto import batch_pb2, batch_pb2_grpc, chat_pb2
from oculi.reasoning.sealed import ReasoningSeal
from oculi.service.batches import BatchItem, page_limit, page_token
from oculi.service.jobs import completion_from_dict
from oculi.store.jobs import BatchRecord, Job, JobState

ENDPOINT = "/v1/chat/completions"
ECHO_LIMIT = 64 * 1024

Meta = batch_pb2.BatchRequestMetadata
STATES = {
    JobState.PENDING: Meta.STATE_PENDING,
    JobState.RUNNING: Meta.STATE_PENDING,
    JobState.SUCCEEDED: Meta.STATE_SUCCEEDED,
    JobState.FAILED: Meta.STATE_FAILED,
    JobState.CANCELLED: Meta.STATE_CANCELLED,
    JobState.EXPIRED: Meta.STATE_CANCELLED,  # the proto has no expired state: stopped by the server
}
WIRE_STATES = {
    Meta.STATE_PENDING: (JobState.PENDING, JobState.RUNNING),
    Meta.STATE_SUCCEEDED: (JobState.SUCCEEDED,),
    Meta.STATE_FAILED: (JobState.FAILED,),
    Meta.STATE_CANCELLED: (JobState.CANCELLED, JobState.EXPIRED),
}
EXPIRED_MESSAGE = "batch_expired: This request could not be executed before the completion window expired."


class BatchService(Servicer, batch_pb2_grpc.BatchMgmtServicer):
    """The ``BatchMgmt`` service (see module docstring)."""

    @unary("BatchMgmt/CreateBatch")
    async def CreateBatch(self, request: batch_pb2.CreateBatchRequest, call: Call) -> batch_pb2.Batch:
        name = request.name or "batch"
        if not request.input_file_id:
            return to_batch(await self.runtime.batches.create(call.owner, name, {"surface": "grpc"}))
        file = await self.runtime.files.get(call.owner, request.input_file_id, param="input_file_id")
        _, data = await self.runtime.store.files.read_file(file.id, call.owner)
        try:
            items = parse_input(data, None, call.owner, self.runtime.generator.seal)
        except InputFileError as exc:
            lines = "; ".join(e.message for e in exc.errors[:5])
            raise InvalidRequest(f"The input file is not a batch file: {lines}", param="input_file_id") from exc
        meta = {"surface": "grpc", "input_file_id": file.id}
        record = await self.runtime.batches.create(call.owner, name, meta, sealed=True)
        await self.runtime.batches.add(record.id, call.owner, items, sealed_ok=True)
        return to_batch(await self.runtime.batches.get(record.id, call.owner))

    @unary("BatchMgmt/AddBatchRequests")
    async def AddBatchRequests(self, request: batch_pb2.AddBatchRequestsRequest, call: Call) -> empty_pb2.Empty:
        items = [to_item(r, call.owner, self.runtime.generator.seal) for r in request.batch_requests]
        await self.runtime.batches.add(request.batch_id, call.owner, items)
        return empty_pb2.Empty()

    @unary("BatchMgmt/GetBatch")
    async def GetBatch(self, request: batch_pb2.GetBatchRequest, call: Call) -> batch_pb2.Batch:
        return to_batch(await self.runtime.batches.get(request.batch_id, call.owner))

    @unary("BatchMgmt/ListBatches")
    async def ListBatches(self, request: batch_pb2.ListBatchesRequest, call: Call) -> batch_pb2.ListBatchesResponse:
        limit = page_limit(request.limit)
        offset = max(0, page_token(request.pagination_token))
        records = await self.runtime.batches.list_batches(call.owner, limit=limit, offset=offset)
        token = str(offset + len(records)) if len(records) == limit else ""
        return batch_pb2.ListBatchesResponse(batches=[to_batch(r) for r in records], pagination_token=token)

    @unary("BatchMgmt/CancelBatch")
    async def CancelBatch(self, request: batch_pb2.CancelBatchRequest, call: Call) -> batch_pb2.Batch:
        return to_batch(await self.runtime.batches.cancel(request.batch_id, call.owner))

    @unary("BatchMgmt/ListBatchRequestMetadata")
    async def ListBatchRequestMetadata(
        self, request: batch_pb2.ListBatchRequestMetadataRequest, call: Call
    ) -> batch_pb2.ListBatchRequestMetadataResponse:
        states = tuple(s for wire in request.status for s in WIRE_STATES.get(wire, ()))
        limit = page_limit(request.limit)
        jobs = await self.runtime.batches.requests(
            request.batch_id, call.owner, limit=limit, after_seq=page_token(request.pagination_token), states=states
        )
        return batch_pb2.ListBatchRequestMetadataResponse(
            batch_request_metadata=[to_metadata(j) for j in jobs], pagination_token=next_token(jobs, limit)
        )

    @unary("BatchMgmt/ListBatchResults")
    async def ListBatchResults(
        self, request: batch_pb2.ListBatchResultsRequest, call: Call
    ) -> batch_pb2.ListBatchResultsResponse:
        limit = page_limit(request.limit)
        jobs = await self.runtime.batches.requests(
            request.batch_id,
            call.owner,
            limit=limit,
            after_seq=page_token(request.pagination_token),
            states=(JobState.SUCCEEDED, JobState.FAILED),
        )
        return batch_pb2.ListBatchResultsResponse(
            results=[to_result(j) for j in jobs], pagination_token=next_token(jobs, limit)
        )

    @unary("BatchMgmt/GetBatchRequestResult")
    async def GetBatchRequestResult(
        self, request: batch_pb2.GetBatchRequestResultRequest, call: Call
    ) -> batch_pb2.GetBatchRequestResultResponse:
        job = await self.runtime.batches.request(request.batch_id, call.owner, request.batch_request_id)
        return batch_pb2.GetBatchRequestResultResponse(request=echo(job), result=to_result(job))


# --- in --------------------------------------------------------------------------------------


def to_item(request: batch_pb2.BatchRequest, owner: str, seal: ReasoningSeal | None = None) -> BatchItem:
    """One ``BatchRequest`` as a ``BatchItem`` (refused ones carry their error; see module docstring)."""
    key = request.batch_request_id or None
    kind = request.WhichOneof("request")
    if kind != "completion_request":
        refused = InvalidRequest(
            f"oculi batches run chat completions only; this request is a {kind or 'empty request'}.",
            param="batch_requests.completion_request",
        )
        return BatchItem(key, refused=refused)
    wire: dict[str, str] = {}
    serialized = request.completion_request.SerializeToString()
    if len(serialized) <= ECHO_LIMIT:
        wire["grpc_request"] = base64.b64encode(serialized).decode()
    try:
        generation = mapper.to_generation_request(request.completion_request, owner=owner, request_id="", seal=seal)
    except OculiError as exc:
        return BatchItem(key, refused=exc, wire=wire)
    return BatchItem(key, generation, wire=wire)


# --- out -------------------------------------------------------------------------------------


def to_batch(record: BatchRecord) -> batch_pb2.Batch:
    """A ``Batch`` with its counts."""
    c = record.counts
    batch = batch_pb2.Batch(
        batch_id=record.id,
        name=record.name,
        create_time=mapper.timestamp(record.created_at),
        expire_time=mapper.timestamp(record.deadline_at if record.deadline_at is not None else record.expires_at),
        state=batch_pb2.BatchState(
            num_requests=c.total,
            num_pending=c.pending,
            num_success=c.succeeded,
            num_error=c.failed,
            num_cancelled=c.cancelled + c.expired,
        ),
    )
    if record.cancelled_at is not None:
        batch.cancel_time.CopyFrom(mapper.timestamp(record.cancelled_at))
    elif record.expired_at is not None:
        batch.cancel_time.CopyFrom(mapper.timestamp(record.expired_at))
        batch.cancel_by_xai_message = (
            f"The batch's completion window ended before {c.expired} of its requests started; they were not run "
            "(batch_expired). Finished requests keep their results."
        )
    return batch


def to_metadata(job: Job) -> batch_pb2.BatchRequestMetadata:
    """A request's ``BatchRequestMetadata``."""
    meta = batch_pb2.BatchRequestMetadata(
        batch_request_id=job.request_key,
        endpoint=ENDPOINT,
        model=job.payload.get("model", ""),
        state=STATES[job.state],
        create_time=mapper.timestamp(job.created_at),
    )
    if job.finished_at is not None:
        meta.finish_time.CopyFrom(mapper.timestamp(job.finished_at))
    return meta


def to_result(job: Job) -> batch_pb2.BatchResult:
    """A finished request's ``BatchResult``: the completion, or ``error`` (a ``google.rpc.Status``)."""
    result = batch_pb2.BatchResult(batch_request_id=job.request_key)
    if job.state is JobState.SUCCEEDED and job.result is not None:
        result.response.completion_response.CopyFrom(mapper.to_response(completion_from_dict(job.result)))
    elif job.state is JobState.FAILED:
        error = job.error or {}
        code = grpc.StatusCode[error.get("grpc_status", "INTERNAL")].value[0]
        result.error.CopyFrom(status_pb2.Status(code=code, message=error.get("error", "The request failed.")))
    elif job.state is JobState.EXPIRED:
        code = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
        result.error.CopyFrom(status_pb2.Status(code=code, message=EXPIRED_MESSAGE))
    elif job.state is JobState.CANCELLED:
        code = grpc.StatusCode.CANCELLED.value[0]
        result.error.CopyFrom(status_pb2.Status(code=code, message="The batch was cancelled before this request ran."))
    else:
        code = grpc.StatusCode.UNAVAILABLE.value[0]  # a pending request asked for by id
        result.error.CopyFrom(status_pb2.Status(code=code, message="The request has not finished yet."))
    return result


def echo(job: Job) -> batch_pb2.BatchRequest:
    """The request as it was added (or its id and model when it was too big to keep; see module docstring)."""
    request = batch_pb2.BatchRequest(batch_request_id=job.request_key)
    kept = (job.payload.get("wire") or {}).get("grpc_request")
    if kept:
        request.completion_request.ParseFromString(base64.b64decode(kept))
    else:
        request.completion_request.CopyFrom(chat_pb2.GetCompletionsRequest(model=job.payload.get("model", "")))
    return request


def next_token(jobs: list[Job], limit: int) -> str:
    """The token of the page after ``jobs`` (empty when this page is the last)."""
    return str(jobs[-1].seq) if len(jobs) == limit else ""
