"""Servers under attack: ``oculi serve`` subprocesses with short connection timeouts.

From the suite's server factory (``tests/servers.py``), session-scoped: ``lite_server`` is the default
``oculi serve`` (oculi-lite), ``vlm_server`` the transformers engine on the
tiny InternVL checkpoint, ``gguf_server`` llama.cpp on the GGUF fixtures
(skipped when the llama.cpp extra is not installed). Header and body
timeouts are a few seconds so slow clients are cut off quickly here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from adversarial_support import MiB
from servers import GGUF, Config, Servers

from oculi.testing.server import ServerProcess

#: Timeouts of the servers under test (seconds).
HEADER_TIMEOUT = 2
BODY_TIMEOUT = 3
#: The decoded-memory budget of the transformers server: small, so 429 / 413 are reachable cheaply.
VLM_DECODED_BUDGET = 384 * MiB

_ENV = {
    "OCULI_REQUEST_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    "OCULI_REQUEST_BODY_TIMEOUT": str(BODY_TIMEOUT),
    "OCULI_THREADS": "2",
}


@pytest.fixture(scope="session")
def lite_server(servers: Servers) -> ServerProcess:
    """The default ``oculi serve``: oculi-lite (OCR, classifier, faces), short header and body deadlines."""
    return servers.get(Config.of(env=_ENV, grpc=False))


@pytest.fixture(scope="session")
def vlm_server(servers: Servers, tiny_internvl: Path) -> ServerProcess:
    """The transformers engine on the tiny InternVL checkpoint, with a small decoded-memory budget."""
    # Its clients upload many large bodies at once: the short body deadline is the lite server's test.
    env = {**_ENV, "OCULI_MAX_INFLIGHT_DECODED_BYTES": str(VLM_DECODED_BUDGET), "OCULI_REQUEST_BODY_TIMEOUT": "60"}
    return servers.get(Config.of(tiny_internvl, env=env))


@pytest.fixture(scope="session")
def gguf_server(servers: Servers) -> ServerProcess:
    """llama.cpp on the tiny InternVL (SPEC tiles) and LLaVA (mtmd's own preprocessing) GGUF fixtures."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (scripts/build_llamacpp.sh)")
    names = ("tiny-internvl", "tiny-llava")
    env = {**_ENV, "OCULI_MMPROJ": ",".join(str(GGUF / f"{n}-mmproj.gguf") for n in names)}
    return servers.get(Config.of(*(GGUF / f"{n}.gguf" for n in names), env=env, grpc=False))
