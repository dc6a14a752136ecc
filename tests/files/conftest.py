"""Servers of the Files API tests (real ``oculi serve`` processes, official clients).

``files_server`` is the suite's shared tiny InternVL server (usage judged by the
SPEC §3 oracle; HTTP and gRPC, two keys); ``limited_server`` serves oculi-lite
with small file limits so size refusals and quotas are cheap to reach. Both come
from the suite's server factory (``tests/servers.py``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from files_support import KEY, LIMITED_MAX_FILE, LIMITED_QUOTA_BYTES, LIMITED_QUOTA_COUNT, OTHER_KEY
from openai import OpenAI
from servers import Config, Servers

from oculi.testing.server import ServerProcess


@pytest.fixture(scope="session")
def files_server(internvl_server: ServerProcess) -> ServerProcess:
    """The shared tiny InternVL server: HTTP + gRPC, keys ``KEY`` and ``OTHER_KEY``."""
    return internvl_server


@pytest.fixture(scope="session")
def limited_server(servers: Servers) -> ServerProcess:
    """oculi-lite with a 4 MiB file limit and a quota of 3 files / 6 MiB per key."""
    env = {
        "OCULI_MAX_FILE_BYTES": str(LIMITED_MAX_FILE),
        "OCULI_FILE_QUOTA_BYTES": str(LIMITED_QUOTA_BYTES),
        "OCULI_FILE_QUOTA_COUNT": str(LIMITED_QUOTA_COUNT),
    }
    return servers.get(Config.of(env=env))


@pytest.fixture
def client(files_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=files_server.v1, api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture
def other_client(files_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=files_server.v1, api_key=OTHER_KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def image_host() -> Iterator[dict[str, bytes]]:
    """A plain HTTP server on 127.0.0.1 serving ``pages[path]`` as PNG; its base URL is ``pages["/"]``."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(body or b"")))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    pages["/"] = f"http://127.0.0.1:{httpd.server_address[1]}".encode()
    yield pages
    httpd.shutdown()
    httpd.server_close()
