"""The generated ``xai_api`` messages and services, taken from the ``xai-sdk`` wheel.

``xai_sdk.proto`` selects the generated code that matches the installed
protobuf runtime, the same selection the client makes (see the package
docstring), so every module of this package imports the stubs from here.
"""

from xai_sdk.proto import (
    auth_pb2,
    auth_pb2_grpc,
    batch_pb2,
    batch_pb2_grpc,
    chat_pb2,
    chat_pb2_grpc,
    deferred_pb2,
    files_pb2,
    files_pb2_grpc,
    image_pb2,
    models_pb2,
    models_pb2_grpc,
    sample_pb2,
    tokenize_pb2,
    tokenize_pb2_grpc,
    usage_pb2,
)

__all__ = [
    "auth_pb2",
    "auth_pb2_grpc",
    "batch_pb2",
    "batch_pb2_grpc",
    "chat_pb2",
    "chat_pb2_grpc",
    "deferred_pb2",
    "files_pb2",
    "files_pb2_grpc",
    "image_pb2",
    "models_pb2",
    "models_pb2_grpc",
    "sample_pb2",
    "tokenize_pb2",
    "tokenize_pb2_grpc",
    "usage_pb2",
]
