"""Start the gRPC server (``xai_api`` Chat, Models, Tokenize, Auth, Files, BatchMgmt) in the running event loop.

``oculi.server.serve`` calls ``start_grpc_server`` next to uvicorn and stops
the returned server on shutdown (``await server.stop(grace)``).

Channel options mirror what the xai-sdk client sets on its side: 20 MiB
messages both ways (the client's own limit, and SPEC's per-image maximum),
and keepalive: the client pings every 30 s even without calls, so the server
must accept pings without data at that rate (gRPC's default minimum is 5
minutes, past which it answers ``GOAWAY too_many_pings``); faster pingers are
cut off after two strikes. Calls in progress (``grpc_max_concurrent_rpcs``,
beyond it RESOURCE_EXHAUSTED) and streams per connection are capped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import grpc

from oculi.grpc.auth import AuthService
from oculi.grpc.batch import BatchService
from oculi.grpc.chat import ChatService
from oculi.grpc.files import FilesService
from oculi.grpc.models import ModelsService
from oculi.grpc.proto import (
    auth_pb2_grpc,
    batch_pb2_grpc,
    chat_pb2_grpc,
    files_pb2_grpc,
    models_pb2_grpc,
    tokenize_pb2_grpc,
)
from oculi.grpc.tokenize import TokenizeService

if TYPE_CHECKING:
    from oculi.runtime import Runtime

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: Largest answer sent. Requests may be larger: up to ``settings.max_body_bytes``
#: (as on HTTP), since a 20 MiB image grows by 4/3 as a base64 data URL.
MAX_MESSAGE_BYTES = 20 * MiB

#: The shortest interval between client pings (without data) the server accepts.
MIN_PING_INTERVAL_MS = 10_000

SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Accept the client's keepalive pings (every 30 s, also between calls).
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", MIN_PING_INTERVAL_MS),
    ("grpc.http2.max_ping_strikes", 2),
    # Ping idle clients ourselves so dead connections are noticed.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.max_pings_without_data", 0),
    # Fail loudly when the port is taken instead of sharing it with another process.
    ("grpc.so_reuseport", 0),
]


def grpc_address(host: str, port: int) -> str:
    """``host:port`` as gRPC wants it (IPv6 literals in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


async def start_grpc_server(runtime: Runtime, host: str, port: int) -> grpc.aio.Server:
    """Build, bind and start the gRPC server on ``host:port``; return it (started).

    Plaintext HTTP/2: ``xai_sdk.Client(api_host="localhost:PORT")`` connects
    with the SDK's local credentials (see the package docstring). Raises
    ``OSError`` when the address cannot be bound.
    """
    receive_limit = max(MAX_MESSAGE_BYTES, runtime.settings.max_body_bytes)
    settings = runtime.settings
    options = [
        *SERVER_OPTIONS,
        ("grpc.max_receive_message_length", receive_limit),
        ("grpc.max_concurrent_streams", settings.grpc_max_streams_per_connection),
    ]
    server = grpc.aio.server(options=options, maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs)
    chat_pb2_grpc.add_ChatServicer_to_server(ChatService(runtime), server)
    models_pb2_grpc.add_ModelsServicer_to_server(ModelsService(runtime), server)
    tokenize_pb2_grpc.add_TokenizeServicer_to_server(TokenizeService(runtime), server)
    auth_pb2_grpc.add_AuthServicer_to_server(AuthService(runtime), server)
    batch_pb2_grpc.add_BatchMgmtServicer_to_server(BatchService(runtime), server)
    files_pb2_grpc.add_FilesServicer_to_server(FilesService(runtime), server)
    address = grpc_address(host, port)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio reports a failed bind as RuntimeError
        raise OSError(f"gRPC server cannot listen on {address}: {exc}. Choose another --grpc-port.") from exc
    await server.start()
    log.info("gRPC (xai-sdk) listening on %s", grpc_address(host, bound))
    return server
