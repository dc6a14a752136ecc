"""Chat completions: validate → convert → generate → render (stream, whole, or deferred).

The same ``Generator.start`` refuses every bad request before any byte is
sent; streaming and non-streaming consume the same run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import Response

from oculi.api.chat import mapper
from oculi.api.chat.schemas import ChatCompletionRequest, DeferredPendingResponse, DeferredResponse
from oculi.api.context import Caller
from oculi.api.disconnect import drain
from oculi.api.errors import error_response
from oculi.api.sse import data_line, primed, pumped, sse_response
from oculi.api.wire import json_response, stored_completion, stream_error_body
from oculi.domain import Delta
from oculi.errors import InvalidRequest
from oculi.runtime import Runtime
from oculi.service.generate import GenerationRequest, GenerationRun
from oculi.store.base import ResponseStatus


async def create(body: ChatCompletionRequest, runtime: Runtime, caller: Caller, http: Request) -> Response:
    """Handle ``POST /v1/chat/completions``."""
    request = GenerationRequest(
        model=body.model,
        conversation=mapper.to_conversation(body),
        params=mapper.to_params(body),
        owner=caller.owner,
        surface="chat",
        max_tokens_param="max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens",
    )
    if body.deferred:
        if body.stream:
            raise InvalidRequest("A deferred completion cannot be streamed; send stream=false.", param="stream")
        request_id = await runtime.deferred.submit(request)
        return json_response(DeferredResponse(request_id=request_id))
    run = await runtime.generator.start(request)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        deltas = await primed(pumped(aiter(run), run.aclose), lambda d: d.is_output)
        return sse_response(_chunks(run, deltas, include_usage))
    return json_response(mapper.to_response(await drain(run, http)))


async def _chunks(run: GenerationRun, deltas: AsyncIterator[Delta], include_usage: bool) -> AsyncIterator[bytes]:
    chunks = mapper.ChunkMapper(run.id, run.model, run.created, run.request.params.n, include_usage=include_usage)
    try:
        async for delta in deltas:
            for chunk in chunks.delta(delta):
                yield data_line(chunk.model_dump(mode="json", exclude_none=True))
    except Exception as exc:
        # The status line is gone; the xAI stream error shape tells the client instead.
        yield data_line(stream_error_body(exc))
        return
    for chunk in chunks.closing():
        yield data_line(chunk.model_dump(mode="json", exclude_none=True))
    yield data_line("[DONE]")


async def poll_deferred(request_id: str, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``GET /v1/chat/deferred-completion/{request_id}``: 202 pending, 200 done."""
    record = await runtime.deferred.poll(request_id, caller.owner)
    if record.status is ResponseStatus.IN_PROGRESS:
        return json_response(DeferredPendingResponse(request_id=request_id), status=202)
    if record.status is ResponseStatus.FAILED:
        body = record.error or {"code": "internal_error", "error": "The deferred completion failed."}
        return error_response(400 if body.get("code") != "internal_error" else 500, body)
    return json_response(mapper.to_response(stored_completion(record)))
