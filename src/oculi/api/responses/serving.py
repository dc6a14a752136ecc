"""Responses: validate → convert → generate → render (stream or whole); GET / DELETE stored ones.

Storing is the pipeline's job (``GenerationRequest.store``); this module only
renders (the stream's events: ``events.py``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from oculi.api.context import Caller
from oculi.api.disconnect import drain
from oculi.api.responses import mapper
from oculi.api.responses.events import ResponseEvents
from oculi.api.responses.mapper import ResponseFacts
from oculi.api.responses.schemas import ResponseCreateRequest, ResponseDeletedResponse
from oculi.api.sse import primed, pumped, sse_response
from oculi.api.wire import json_response, stream_error_body
from oculi.domain import Delta
from oculi.errors import ResponseNotFound
from oculi.runtime import Runtime
from oculi.service.generate import GenerationRequest, GenerationRun
from oculi.store.base import ResponseStatus


def _facts(run: GenerationRun) -> ResponseFacts:
    request = run.request
    return ResponseFacts(
        id=run.id,
        model=run.model,
        created_at=run.created,
        params=request.params,
        store=request.store,
        previous_response_id=request.previous_response_id,
        metadata=request.metadata,
    )


def _finished(facts: ResponseFacts, run: GenerationRun) -> ResponseFacts:
    completion = run.completion
    assert completion is not None
    return dataclasses.replace(
        facts, choice=completion.choices[0], usage=completion.usage, completed_at=int(time.time())
    )


async def create(body: ResponseCreateRequest, runtime: Runtime, caller: Caller, http: Request) -> Response:
    """Handle ``POST /v1/responses``."""
    request = GenerationRequest(
        model=body.model,
        conversation=mapper.to_conversation(body),
        params=mapper.to_params(body),
        owner=caller.owner,
        surface="responses",
        store=body.store is not False,
        previous_response_id=body.previous_response_id,
        metadata=mapper.to_metadata(body),
        max_tokens_param="max_output_tokens",
        text_param="input",
    )
    run = await runtime.generator.start(request)
    facts = _facts(run)
    if body.stream:
        deltas = await primed(pumped(aiter(run), run.aclose), lambda d: d.is_output)
        return sse_response(_events(run, deltas, facts))
    await drain(run, http)
    return JSONResponse(mapper.response_dict(mapper.to_response(_finished(facts, run))))


async def _events(run: GenerationRun, deltas: AsyncIterator[Delta], facts: ResponseFacts) -> AsyncIterator[bytes]:
    events = ResponseEvents(run.id)
    for opening in events.opening(facts):
        yield opening
    try:
        async for delta in deltas:
            if delta.text and delta.index == 0:
                yield events.delta(delta.text)
    except Exception as exc:
        # The status line is gone; the failure travels as the response's own error.
        yield events.failed(dataclasses.replace(facts, error=stream_error_body(exc)))
        return
    for closing in events.closing(_finished(facts, run)):
        yield closing


async def retrieve(response_id: str, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``GET /v1/responses/{id}`` (another key's id is a 404, like an unknown one)."""
    record = await runtime.store.get_response(response_id, caller.owner)
    if record is None or record.metadata.get("deferred") or record.status is ResponseStatus.IN_PROGRESS:
        raise _not_found(response_id)
    return JSONResponse(mapper.response_dict(mapper.to_response(ResponseFacts.from_stored(record))))


async def delete(response_id: str, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``DELETE /v1/responses/{id}``."""
    if not await runtime.store.delete_response(response_id, caller.owner):
        raise _not_found(response_id)
    return json_response(ResponseDeletedResponse(id=response_id))


def _not_found(response_id: str) -> ResponseNotFound:
    return ResponseNotFound(
        f"No stored response with id '{response_id}' for this API key (it may have expired, been deleted, "
        "or been created with store=false).",
        param="response_id",
    )
