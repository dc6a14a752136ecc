"""Fixtures of the HTTP API tests: the shared servers under this folder's names, a local image server.

Servers come from the suite's factory (``tests/servers.py``): ``vlm_server``
is the shared tiny InternVL server, ``scripted_server`` the scripted engine
(behaviours a real model cannot show on demand) with small limits so 413 /
429 are reachable cheaply.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from api_support import KEY, image_server  # noqa: F401  (image_server is a fixture)

from oculi.testing.server import ServerProcess


@pytest.fixture(scope="session")
def vlm_server(internvl_server: ServerProcess) -> ServerProcess:
    """The shared tiny InternVL server (``tests/servers.py``)."""
    return internvl_server


@pytest.fixture
def http(vlm_server: ServerProcess) -> Iterator[httpx.Client]:
    """A plain HTTP client on the VLM server, authenticated with ``KEY``."""
    with httpx.Client(base_url=vlm_server.base_url, headers={"authorization": f"Bearer {KEY}"}, timeout=120) as c:
        yield c


@pytest.fixture
def scripted_http(scripted_server: ServerProcess) -> Iterator[httpx.Client]:
    """A plain HTTP client on the scripted server, authenticated with ``KEY``."""
    with httpx.Client(base_url=scripted_server.base_url, headers={"authorization": f"Bearer {KEY}"}, timeout=60) as c:
        yield c
