"""Routes of chat completions (thin: everything happens in ``serving``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from oculi.api.body import ThreadedJSONRoute
from oculi.api.chat import serving
from oculi.api.chat.schemas import ChatCompletionRequest, ChatCompletionResponse
from oculi.api.context import CallerDep, RuntimeDep

router = APIRouter(tags=["chat"], route_class=ThreadedJSONRoute)  # big bodies parsed off the loop


@router.post("/v1/chat/completions", response_model=ChatCompletionResponse)
async def create_chat_completion(
    body: ChatCompletionRequest, runtime: RuntimeDep, caller: CallerDep, request: Request
) -> Response:
    """Chat with text and images; ``stream: true`` for SSE chunks, ``deferred: true`` to poll later."""
    return await serving.create(body, runtime, caller, request)


@router.get("/v1/chat/deferred-completion/{request_id}", response_model=ChatCompletionResponse)
async def get_deferred_completion(request_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """A deferred completion: 202 while it runs, 200 with the ``chat.completion`` when done."""
    return await serving.poll_deferred(request_id, runtime, caller)
