"""``xai_api.Tokenize``: ``TokenizeText`` with the named model's own tokenizer (no chat template)."""

from __future__ import annotations

import asyncio

from oculi.errors import InvalidRequest
from oculi.grpc import mapper
from oculi.grpc.call import Call, Servicer, unary
from oculi.grpc.proto import tokenize_pb2, tokenize_pb2_grpc
from oculi.service.admission import check_text_length

# Longer texts are tokenized in a worker thread so one big request does not stall the event loop.
THREAD_ABOVE_CHARS = 16_384


class TokenizeService(Servicer, tokenize_pb2_grpc.TokenizeServicer):
    """The ``Tokenize`` service (see module docstring)."""

    @unary("Tokenize/TokenizeText")
    async def TokenizeText(
        self, request: tokenize_pb2.TokenizeTextRequest, call: Call
    ) -> tokenize_pb2.TokenizeTextResponse:
        if not request.model:
            raise InvalidRequest("model is required: name a served model or a 'grok-*' alias.", param="model")
        engine = self.runtime.registry.resolve(request.model)
        check_text_length(len(request.text), engine.info.context_length, param="text")
        if len(request.text) > THREAD_ABOVE_CHARS:
            tokens = await asyncio.to_thread(engine.tokenize, request.text)
        else:
            tokens = engine.tokenize(request.text)
        return mapper.to_tokens(tokens, engine.info.id)
