"""Helpers for the intake tests: generated images, settings, and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import ssl
import subprocess
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from oculi.settings import Settings


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: smooth colour fields plus grain (not flat, not pure noise)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 40), max(2, width // 40), 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-10, 11, (height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    """The image encoded as ``fmt`` bytes."""
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png", *, padding: bool = True) -> str:
    """A base64 data URL; ``padding=False`` strips the trailing '=' like some clients do."""
    text = base64.b64encode(data).decode()
    return f"data:{mime};base64,{text if padding else text.rstrip('=')}"


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: no config file, small worker pool."""
    return Settings(decode_workers=2, **overrides)


Handler = Callable[[asyncio.StreamWriter], Awaitable[None]]


class ImageServer:
    """A real HTTP/1.1 server on 127.0.0.1 whose routes can misbehave on purpose.

    Routes write raw bytes, so a test can send a body longer or shorter than its
    Content-Length, none at all, or stall. Every connection is closed after one
    response. ``connections`` counts TCP connections accepted, ``hits`` requests
    per path; ``headers`` keeps the last request's headers per path.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.headers: dict[str, dict[str, str]] = {}
        self.connections = 0
        self.port = 0
        self.scheme = "http"
        self._server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self.scheme = "https" if tls else "http"
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def raw(self, path: str, handler: Handler) -> str:
        """Route ``path`` to a handler that writes the whole response itself; returns its URL."""
        self.routes[path] = handler
        return self.url(path)

    def serve(self, path: str, body: bytes, *, status: str = "200 OK", headers: dict[str, str] | None = None) -> str:
        """A well-behaved response with Content-Length."""
        head = {"content-type": "image/png", "content-length": str(len(body)), **(headers or {})}

        async def handler(writer: asyncio.StreamWriter) -> None:
            writer.write(_head(status, head) + body)

        return self.raw(path, handler)

    def redirect(self, path: str, location: str, status: str = "302 Found") -> str:
        return self.serve(path, b"", status=status, headers={"location": location})

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            self.hits[path] += 1
            self.headers[path] = {
                k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            handler = self.routes.get(path)
            if handler is None:
                writer.write(_head("404 Not Found", {"content-length": "0"}))
            else:
                await handler(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up first, which is what several tests provoke
        finally:
            writer.close()


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def head(status: str, headers: dict[str, str]) -> bytes:
    """Raw response head bytes (status line, headers, blank line)."""
    return _head(status, headers)


def self_signed_localhost(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for DNS name ``localhost`` (made with the openssl CLI)."""
    cert, key = directory / "localhost.pem", directory / "localhost.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
