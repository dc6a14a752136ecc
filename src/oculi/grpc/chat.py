"""``xai_api.Chat``: completions (unary, streamed, deferred) and stored completions.

Thin: each method maps the request (``mapper``), calls the shared pipeline
(``runtime.generator`` / ``runtime.deferred`` / ``runtime.store``) and maps
the result back. Everything refusable is refused by ``generator.start``
before the first chunk is sent. ``CompactContext`` is not implemented (the
generated base class answers ``UNIMPLEMENTED``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

from oculi.errors import OculiError, ResponseNotFound
from oculi.grpc import mapper
from oculi.grpc.call import Call, Servicer, streaming, unary
from oculi.grpc.proto import chat_pb2, chat_pb2_grpc, deferred_pb2
from oculi.store.base import ResponseStatus, StoredResponse


class ChatService(Servicer, chat_pb2_grpc.ChatServicer):
    """The ``Chat`` service (see module docstring)."""

    @unary("Chat/GetCompletion")
    async def GetCompletion(
        self, request: chat_pb2.GetCompletionsRequest, call: Call
    ) -> chat_pb2.GetChatCompletionResponse:
        generator = self.runtime.generator
        run = await generator.start(
            mapper.to_generation_request(request, owner=call.owner, request_id=call.id, seal=generator.seal)
        )
        async with contextlib.aclosing(run):  # client gone or error: stop the engine, free the slot
            async for _ in run:
                pass
        assert run.completion is not None
        call.context.set_trailing_metadata(mapper.image_details_metadata(run.completion.usage))
        return mapper.to_response(run.completion, generator.seal if request.use_encrypted_content else None)

    @streaming("Chat/GetCompletionChunk")
    async def GetCompletionChunk(
        self, request: chat_pb2.GetCompletionsRequest, call: Call
    ) -> AsyncGenerator[chat_pb2.GetChatCompletionChunk, None]:
        generator = self.runtime.generator
        run = await generator.start(
            mapper.to_generation_request(request, owner=call.owner, request_id=call.id, seal=generator.seal)
        )
        seal = generator.seal if request.use_encrypted_content else None
        writer = mapper.ChunkWriter(run.id, run.model, run.created, run.request.params.n, seal)
        async with contextlib.aclosing(run):  # client gone or error: stop the engine, free the slot
            async for delta in run:
                chunk = writer.chunk(delta)
                if delta.usage is not None:
                    call.context.set_trailing_metadata(mapper.image_details_metadata(delta.usage))
                if chunk is not None:
                    yield chunk

    @unary("Chat/StartDeferredCompletion")
    async def StartDeferredCompletion(
        self, request: chat_pb2.GetCompletionsRequest, call: Call
    ) -> deferred_pb2.StartDeferredResponse:
        generation = mapper.to_generation_request(
            request, owner=call.owner, request_id=call.id, seal=self.runtime.generator.seal
        )
        return deferred_pb2.StartDeferredResponse(request_id=await self.runtime.deferred.submit(generation))

    @unary("Chat/GetDeferredCompletion")
    async def GetDeferredCompletion(
        self, request: deferred_pb2.GetDeferredRequest, call: Call
    ) -> chat_pb2.GetDeferredCompletionResponse:
        record = await self.runtime.deferred.poll(request.request_id, call.owner)
        if record.status is ResponseStatus.IN_PROGRESS:
            return chat_pb2.GetDeferredCompletionResponse(status=deferred_pb2.DeferredStatus.PENDING)
        if record.status is ResponseStatus.FAILED:
            # The stored error is already safe to show ({"code", "error"}, no internals).
            error = (record.error or {}).get("error", "generation failed")
            raise OculiError(f"Deferred request {record.id} failed: {error}", code="deferred_failed")
        return chat_pb2.GetDeferredCompletionResponse(
            status=deferred_pb2.DeferredStatus.DONE, response=mapper.stored_to_response(record)
        )

    @unary("Chat/GetStoredCompletion")
    async def GetStoredCompletion(
        self, request: chat_pb2.GetStoredCompletionRequest, call: Call
    ) -> chat_pb2.GetChatCompletionResponse:
        return mapper.stored_to_response(await self.stored(request.response_id, call.owner))

    @unary("Chat/DeleteStoredCompletion")
    async def DeleteStoredCompletion(
        self, request: chat_pb2.DeleteStoredCompletionRequest, call: Call
    ) -> chat_pb2.DeleteStoredCompletionResponse:
        if not await self.runtime.store.responses.delete_response(request.response_id, call.owner):
            raise not_found(request.response_id)
        return chat_pb2.DeleteStoredCompletionResponse(response_id=request.response_id)

    async def stored(self, response_id: str, owner: str) -> StoredResponse:
        """The caller's finished stored response ``response_id``, or ``ResponseNotFound``."""
        record = await self.runtime.store.responses.get_response(response_id, owner)
        if record is None or record.status is not ResponseStatus.COMPLETED:
            raise not_found(response_id)
        return record


def not_found(response_id: str) -> ResponseNotFound:
    """The NOT_FOUND error for a response id this caller has no finished stored response under."""
    return ResponseNotFound(
        f"No stored completion with id '{response_id}' for this API key (it may have expired, been deleted, "
        "still be in progress, or have been created without store_messages=True).",
        param="response_id",
    )
