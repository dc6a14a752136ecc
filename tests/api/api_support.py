"""Helpers of the HTTP API tests: API keys, test images, a local image server (admitted by --fetch-allow)."""

from __future__ import annotations

import base64
import contextlib
import io
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from servers import (  # noqa: F401  (the suite's keys and the scripted server's limits, re-exported)
    KEY,
    OTHER_KEY,
    SCRIPTED_MAX_BODY,
    SCRIPTED_MAX_IMAGE_BUDGET,
    SCRIPTED_MAX_QUEUE,
    MiB,
)

# --- images ------------------------------------------------------------------------------


def image_bytes(width: int, height: int, fmt: str = "PNG", seed: int = 0) -> bytes:
    """A real image with some structure (a gradient plus a seed-dependent colour)."""
    img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    overlay = Image.new("RGB", (width, height), ((seed * 67) % 256, (seed * 131) % 256, (seed * 29) % 256))
    img = Image.blend(img, overlay, 0.4)
    buffer = io.BytesIO()
    img.save(buffer, fmt)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/jpeg") -> str:
    """A ``data:`` URL (labelled ``image/jpeg`` whatever the bytes are, as clients do)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header declares far too many pixels (decompression-bomb guard)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


GIF_BYTES = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


# --- a local image server (admitted by --fetch-allow 127.0.0.1/32) -------------------------------


@dataclass
class ImageServer:
    """Serves ``files[path] = (status, content_type, body)`` on 127.0.0.1."""

    port: int
    files: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes, *, status: int = 200, content_type: str = "image/png") -> str:
        self.files[path] = (status, content_type, body)
        return self.url(path)

    def redirect(self, path: str, location: str) -> str:
        """``path`` answers 302 to ``location``."""
        self.files[path] = (302, "location:" + location, b"")
        return self.url(path)


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    files: dict[str, tuple[int, str, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = files.get(self.path, (404, "text/plain", b"not found"))
            self.send_response(status)
            if content_type.startswith("location:"):
                self.send_header("location", content_type.removeprefix("location:"))
                content_type = "text/plain"
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # oculi may stop reading early
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    server = ImageServer(port=httpd.server_address[1], files=files)
    yield server
    httpd.shutdown()
    httpd.server_close()
