"""A real ``oculi serve`` (tiny InternVL checkpoint) and a local image web server for the gRPC tests.

The xai-sdk client connects to ``localhost:PORT`` exactly as a user would;
images by URL come from a plain HTTP server on 127.0.0.1, which the oculi
server may fetch from because it is started with ``--fetch-allow 127.0.0.1/32``.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from PIL import Image
from servers import KEY as API_KEY

from oculi.testing.server import ServerProcess


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def picture(width: int, height: int) -> Image.Image:
    """A deterministic, non-uniform RGB picture (a gradient with a block)."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image.paste((200, 30, 30), (width // 4, height // 4, width // 2, height // 2))
    return image


@dataclass(frozen=True)
class TestImage:
    """An image the tests send: its bytes, size and where the image server serves it."""

    data: bytes
    width: int
    height: int
    url: str
    mime: str

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"


@dataclass(frozen=True)
class ImageServer:
    base: str
    images: dict[str, TestImage]


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    """A real HTTP server on 127.0.0.1 serving a PNG and a JPEG (anything else: 404)."""
    pngs = {"/wide.png": picture(900, 600), "/small.png": picture(320, 240)}
    jpegs = {"/photo.jpg": picture(1200, 500)}
    bodies = {path: (encode(img, "PNG"), "image/png", img.size) for path, img in pngs.items()}
    bodies |= {path: (encode(img, "JPEG"), "image/jpeg", img.size) for path, img in jpegs.items()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = bodies.get(self.path)
            if found is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", found[1])
            self.send_header("Content-Length", str(len(found[0])))
            self.end_headers()
            self.wfile.write(found[0])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    images = {
        path.strip("/"): TestImage(data, size[0], size[1], base + path, mime)
        for path, (data, mime, size) in bodies.items()
    }
    yield ImageServer(base, images)
    server.shutdown()
    server.server_close()


class KeepaliveProbe:
    """A channel that pings the server every 10 s without calls, opened when the server starts.

    It makes one call, then stays idle while the other tests run; a server
    that refused its pings would send ``GOAWAY too_many_pings`` and the
    channel would leave READY (recorded in ``states``).
    """

    PING_MS = 10_000

    def __init__(self, port: int, api_key: str) -> None:
        from google.protobuf import empty_pb2
        from xai_sdk.proto import models_pb2_grpc

        self.metadata = (("authorization", f"Bearer {api_key}"),)
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[
                ("grpc.keepalive_time_ms", self.PING_MS),
                ("grpc.keepalive_timeout_ms", 5_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.max_pings_without_data", 0),
            ],
        )
        self.states: list[grpc.ChannelConnectivity] = []
        self.channel.subscribe(self.states.append, try_to_connect=True)
        self.stub = models_pb2_grpc.ModelsStub(self.channel)
        self.stub.ListLanguageModels(empty_pb2.Empty(), metadata=self.metadata, timeout=30)
        self.idle_since = time.monotonic()
        # The call went through, so the channel was READY; gRPC reports states to ``subscribe`` from a
        # thread of its own, which may not have run yet: wait (bounded) until it has.
        deadline = time.monotonic() + 10
        while grpc.ChannelConnectivity.READY not in self.states and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.channel.close()


@dataclass(frozen=True)
class OculiServer:
    """A running ``oculi serve``: where to reach it and which model it serves."""

    grpc_port: int
    http_port: int
    api_key: str
    model_path: Path
    keepalive: KeepaliveProbe

    @property
    def api_host(self) -> str:
        return f"localhost:{self.grpc_port}"


@pytest.fixture(scope="session")
def oculi_server(internvl_server: ServerProcess, tiny_internvl: Path) -> Iterator[OculiServer]:
    """The shared tiny InternVL ``oculi serve`` (``tests/servers.py``), with a keepalive probe opened on it."""
    probe = KeepaliveProbe(internvl_server.grpc_port, API_KEY)
    try:
        yield OculiServer(internvl_server.grpc_port, internvl_server.http_port, API_KEY, tiny_internvl, probe)
    finally:
        probe.close()
