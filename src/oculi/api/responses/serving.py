"""Responses: validate → convert → generate → render (stream or whole); GET / DELETE stored ones.

Storing is the pipeline's job (``GenerationRequest.store``); this module only
renders (the stream's events: ``events.py``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from functools import partial

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from oculi.api.context import Caller
from oculi.api.disconnect import drain
from oculi.api.responses import mapper
from oculi.api.responses.events import ResponseEvents
from oculi.api.responses.mapper import ResponseFacts
from oculi.api.responses.reasoning import ENCRYPTED, wants_encrypted
from oculi.api.responses.schemas import ResponseCreateRequest, ResponseDeletedResponse
from oculi.api.sse import primed, pumped, sse_response
from oculi.api.wire import json_response, stream_error_body
from oculi.domain import Delta
from oculi.errors import ResponseNotFound
from oculi.runtime import Runtime
from oculi.service.generate import GenerationRun
from oculi.store.base import ResponseStatus

#: Seals a response's reasoning into its ``encrypted_content`` blob.
Sealer = Callable[[str], str]


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


def _finished(facts: ResponseFacts, run: GenerationRun, seal: Sealer | None = None) -> ResponseFacts:
    completion = run.completion
    assert completion is not None
    choice = completion.choices[0]
    encrypted = seal(choice.reasoning) if seal is not None and choice.reasoning else None
    return dataclasses.replace(
        facts, choice=choice, usage=completion.usage, completed_at=int(time.time()), encrypted_reasoning=encrypted
    )


async def create(body: ResponseCreateRequest, runtime: Runtime, caller: Caller, http: Request) -> Response:
    """Handle ``POST /v1/responses``."""
    request = mapper.to_generation_request(body, caller.owner, runtime.generator.seal)
    run = await runtime.generator.start(request)
    facts = _facts(run)
    seal = partial(runtime.generator.seal.seal, model=run.model) if wants_encrypted(body) else None
    if body.stream:
        deltas = await primed(pumped(aiter(run), run.aclose), lambda d: d.is_output)
        return sse_response(_events(run, deltas, facts, seal))
    await drain(run, http)
    return JSONResponse(mapper.response_dict(mapper.to_response(_finished(facts, run, seal))))


async def _events(
    run: GenerationRun, deltas: AsyncIterator[Delta], facts: ResponseFacts, seal: Sealer | None
) -> AsyncIterator[bytes]:
    events = ResponseEvents(run.id, seal)
    for opening in events.opening(facts, lazy_message=run.output.parse_tool_calls or run.thinks):
        yield opening
    try:
        async for delta in deltas:
            if delta.index != 0:
                continue
            if delta.reasoning:
                for line in events.reasoning(delta.reasoning):
                    yield line
            if delta.text:
                for line in events.delta(delta.text):
                    yield line
            for chunk in delta.tool_calls:
                for line in events.tool_call(chunk):
                    yield line
    except Exception as exc:
        # The status line is gone; the failure travels as the response's own error.
        yield events.failed(dataclasses.replace(facts, error=stream_error_body(exc)))
        return
    for closing in events.closing(_finished(facts, run, seal)):
        yield closing


async def retrieve(response_id: str, runtime: Runtime, caller: Caller, include: list[str] | None = None) -> Response:
    """Handle ``GET /v1/responses/{id}`` (another key's id is a 404, like an unknown one).

    ``include`` with ``reasoning.encrypted_content``: the reasoning item carries
    the same signed blob the live response did (the seal is deterministic).
    """
    record = await runtime.store.responses.get_response(response_id, caller.owner)
    if record is None or record.metadata.get("deferred") or record.status is ResponseStatus.IN_PROGRESS:
        raise _not_found(response_id)
    facts = ResponseFacts.from_stored(record)
    reasoning = facts.choice.reasoning if facts.choice is not None else None
    if ENCRYPTED in (include or []) and reasoning:
        facts.encrypted_reasoning = runtime.generator.seal.seal(reasoning, model=record.model)
    return JSONResponse(mapper.response_dict(mapper.to_response(facts)))


async def delete(response_id: str, runtime: Runtime, caller: Caller) -> Response:
    """Handle ``DELETE /v1/responses/{id}``."""
    if not await runtime.store.responses.delete_response(response_id, caller.owner):
        raise _not_found(response_id)
    return json_response(ResponseDeletedResponse(id=response_id))


def _not_found(response_id: str) -> ResponseNotFound:
    return ResponseNotFound(
        f"No stored response with id '{response_id}' for this API key (it may have expired, been deleted, "
        "or been created with store=false).",
        param="response_id",
    )
