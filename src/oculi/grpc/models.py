"""``xai_api.Models``: the served language models (``ListLanguageModels``, ``GetLanguageModel``).

Embedding and image-generation models are not served: their list methods
answer empty lists and their get methods ``NOT_FOUND``.
"""

from __future__ import annotations

from google.protobuf import empty_pb2

from oculi.engines.base import Engine
from oculi.errors import InvalidRequest, NotFound
from oculi.grpc import mapper
from oculi.grpc.call import Call, Servicer, unary
from oculi.grpc.proto import models_pb2, models_pb2_grpc


class ModelsService(Servicer, models_pb2_grpc.ModelsServicer):
    """The ``Models`` service (see module docstring)."""

    @unary("Models/ListLanguageModels")
    async def ListLanguageModels(self, request: empty_pb2.Empty, call: Call) -> models_pb2.ListLanguageModelsResponse:
        return models_pb2.ListLanguageModelsResponse(
            models=[self.describe(engine) for engine in self.runtime.registry.engines()]
        )

    @unary("Models/GetLanguageModel")
    async def GetLanguageModel(self, request: models_pb2.GetModelRequest, call: Call) -> models_pb2.LanguageModel:
        if not request.name:
            raise InvalidRequest("name is required: the id or alias of a served model.", param="name")
        return self.describe(self.runtime.registry.resolve(request.name))

    @unary("Models/ListEmbeddingModels")
    async def ListEmbeddingModels(self, request: empty_pb2.Empty, call: Call) -> models_pb2.ListEmbeddingModelsResponse:
        return models_pb2.ListEmbeddingModelsResponse()

    @unary("Models/GetEmbeddingModel")
    async def GetEmbeddingModel(self, request: models_pb2.GetModelRequest, call: Call) -> models_pb2.EmbeddingModel:
        raise NotFound(f"oculi serves no embedding models, so there is no '{request.name}'.", param="name")

    @unary("Models/ListImageGenerationModels")
    async def ListImageGenerationModels(
        self, request: empty_pb2.Empty, call: Call
    ) -> models_pb2.ListImageGenerationModelsResponse:
        return models_pb2.ListImageGenerationModelsResponse()

    @unary("Models/GetImageGenerationModel")
    async def GetImageGenerationModel(
        self, request: models_pb2.GetModelRequest, call: Call
    ) -> models_pb2.ImageGenerationModel:
        raise NotFound(f"oculi serves no image-generation models, so there is no '{request.name}'.", param="name")

    def describe(self, engine: Engine) -> models_pb2.LanguageModel:
        """The ``LanguageModel`` of a served engine, with its configured aliases."""
        return mapper.to_language_model(engine.info, self.runtime.registry.alias_names(engine))
