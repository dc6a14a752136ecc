"""Fixtures of the HTTP API tests: real server subprocesses, a local image server.

Servers are session-scoped and shared by the modules of this folder (each
start loads a model): ``vlm_server`` serves the tiny InternVL checkpoint,
``scripted_server`` the scripted engine (behaviours a real model cannot show
on demand) with small limits so 413 / 429 are reachable cheaply.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import (  # noqa: F401  (image_server is a fixture)
    KEY,
    OTHER_KEY,
    SCRIPTED_MAX_BODY,
    SCRIPTED_MAX_IMAGE_BUDGET,
    SCRIPTED_MAX_QUEUE,
    image_server,
)

from oculi.testing.server import ServerProcess, running_server

# --- servers --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def vlm_server(tiny_internvl: Path) -> Iterator[ServerProcess]:
    """``oculi serve`` with the tiny InternVL checkpoint, two API keys, local image URLs admitted."""
    with running_server(
        models=[str(tiny_internvl)],
        api_keys=[KEY, OTHER_KEY],
        fetch_allow=["127.0.0.1/32"],
        grpc=False,
        env={"OCULI_THREADS": "2"},
    ) as server:
        yield server


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ServerProcess]:
    """The scripted engine (see ``oculi.engines.testing``) behind the real HTTP stack."""
    with running_server(
        scripted=True,
        api_keys=[KEY, OTHER_KEY],
        grpc=False,
        env={
            "OCULI_MAX_BODY_BYTES": str(SCRIPTED_MAX_BODY),
            "OCULI_MAX_QUEUE": str(SCRIPTED_MAX_QUEUE),
            "OCULI_MAX_INFLIGHT_IMAGE_BYTES": str(SCRIPTED_MAX_IMAGE_BUDGET),
        },
    ) as server:
        yield server


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
