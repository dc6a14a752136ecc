"""The suite's one factory of real ``oculi serve`` processes, keyed by their settings.

A test says what server it needs as a ``Config`` (models, keys, gRPC on or
off, extra ``OCULI_*`` settings); the session-scoped ``servers`` fixture
(``tests/conftest.py``) starts one process per distinct ``Config`` the first
time it is asked for and stops them all when the session ends. So every
folder that needs "the tiny InternVL with keys A and B" shares one process,
whatever folder asks first — the model of httpx's session-scoped test server.

The common servers have names (``internvl``, ``lite``, ``thinking`` ...):
use them unless the test needs a setting that would change what other
tests see (small limits, short timeouts, a private store); then build a
``Config`` of its own, which is still started once for all who share it.
A test that must stop, kill or crash its server (SIGTERM, ``kill -9``)
uses ``running_server`` directly: such a process cannot be shared.

Every shared server accepts the suite's two keys, ``KEY`` and ``OTHER_KEY``
(two owners, for isolation tests), and fetches images from 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from oculi.testing.checkpoints import cached_checkpoint
from oculi.testing.server import ServerProcess, running_server

if TYPE_CHECKING:
    from oculi.engines.registry import EngineRegistry
    from oculi.settings import Settings

#: The suite's API keys: every shared server accepts both (two owners, for isolation tests).
KEY = "sk-oculi-test-key-one"
OTHER_KEY = "sk-oculi-test-key-two"
KEYS = (KEY, OTHER_KEY)
#: Where the test image servers listen: every shared server may fetch from there.
LOCALHOST = ("127.0.0.1/32",)
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GGUF = FIXTURES / "gguf"
#: The vLLM engine on these CPU machines: eager (no graph capture), a short context, 1 GiB of KV cache.
#: vLLM's process layout is its default (a front end, an engine core, a worker process beside it).
VLLM_ENV: Mapping[str, str] = {
    "OCULI_ENGINE": "vllm",
    "OCULI_VLLM_ENFORCE_EAGER": "true",
    "OCULI_VLLM_MAX_MODEL_LEN": "4096",
    "VLLM_CPU_KVCACHE_SPACE": "1",
}
#: The same with the worker inside the engine core (``VLLM_ENABLE_V1_MULTIPROCESSING=0``: vLLM's
#: single-process executor), for the servers that check what oculi feeds vLLM (families, thinking):
#: a start spawns one process fewer (each spawn imports vLLM again: ~6 s of the ~20 s start). The
#: default layout stays covered by tests/api/test_api_vllm.py's server and its tensor-parallel one.
VLLM_ONE_WORKER_ENV: Mapping[str, str] = {**VLLM_ENV, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
#: vLLM loads in about 100 s on two busy cores; other engines in seconds.
VLLM_STARTUP_TIMEOUT = 600.0


@dataclass(frozen=True)
class Config:
    """What a test server is: equal configs share one process."""

    models: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    keys: tuple[str, ...] = KEYS
    fetch_allow: tuple[str, ...] = LOCALHOST
    grpc: bool = True
    scripted: bool = False
    startup_timeout: float = field(default=180.0, compare=False)

    @classmethod
    def of(
        cls,
        *models: str | Path,
        env: Mapping[str, str] | None = None,
        keys: Sequence[str] = KEYS,
        grpc: bool = True,
        scripted: bool = False,
    ) -> Config:
        """A config from plain arguments (``env`` in any order: it is sorted, so equal settings share)."""
        engine_env = dict(env or {})
        timeout = VLLM_STARTUP_TIMEOUT if engine_env.get("OCULI_ENGINE") == "vllm" else 180.0
        return cls(
            models=tuple(str(m) for m in models),
            env=tuple(sorted(engine_env.items())),
            keys=tuple(keys),
            grpc=grpc,
            scripted=scripted,
            startup_timeout=timeout,
        )

    def describe(self) -> str:
        """A short name for logs: the models' folder names and the settings."""
        models = ",".join(Path(m).name for m in self.models) or ("scripted" if self.scripted else "oculi-lite")
        return models + "".join(f" {k}={v}" for k, v in self.env)


class Servers:
    """Started servers by ``Config``: ``get`` keeps one for the session, ``lease`` for a module.

    Each server holds hundreds of megabytes (a vLLM one gigabytes: an engine process and a
    worker beside it), so a server only some modules need is *leased*: started on first use,
    and once its last lease ends (the module's fixture tears down) it is *idle*: stopped as
    soon as another server is about to start (or the session ends), taken up again if the next
    module leases it too (the vLLM family and thinking tests, in one xdist group, share one this
    way). A session-wide ``get`` keeps a server to the end: the suite's named servers (``internvl`` …).
    """

    def __init__(self) -> None:
        self._running: dict[Config, tuple[contextlib.AbstractContextManager[ServerProcess], ServerProcess]] = {}
        self._held: set[Config] = set()
        self._leases: dict[Config, int] = {}
        #: Leased servers no lease holds now: stopped when another server starts.
        self._idle: set[Config] = set()
        #: Servers being stopped in the background (``stop``); ``close`` waits for them.
        self._stopping: list[threading.Thread] = []
        #: How many processes this factory started (printed at the end of the session), and which restarted.
        self.starts: list[str] = []
        self.restarts: list[str] = []

    def get(self, config: Config) -> ServerProcess:
        """The running server of ``config``, started now if needed, kept until the session ends."""
        self._held.add(config)
        return self._start(config)

    @contextlib.contextmanager
    def lease(self, config: Config) -> Iterator[ServerProcess]:
        """The running server of ``config`` while the ``with`` block lasts (shared with other holders)."""
        self._leases[config] = self._leases.get(config, 0) + 1
        try:
            yield self._start(config)
        finally:
            self._leases[config] -= 1
            if self._leases[config] == 0 and config not in self._held:
                self._idle.add(config)

    def _start(self, config: Config) -> ServerProcess:
        self._idle.discard(config)
        entry = self._running.get(config)
        if entry is not None and entry[1].alive():
            return entry[1]
        for idle in list(self._idle):  # room for the new one
            self._idle.discard(idle)
            self.stop(idle)
        if entry is not None:  # it died (a test killed it): start a fresh one
            self.stop(config)
            self.restarts.append(config.describe())
        manager = running_server(
            models=config.models,
            api_keys=config.keys,
            fetch_allow=config.fetch_allow,
            env=dict(config.env),
            grpc=config.grpc,
            scripted=config.scripted,
            startup_timeout=config.startup_timeout,
        )
        server = manager.__enter__()
        self._running[config] = (manager, server)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.starts.append(f"[{worker}] {config.describe()}")
        return server

    def stop(self, config: Config) -> None:
        """Stop the server of ``config`` if it runs: SIGTERM now, the wait for its exit in the background.

        A graceful stop takes seconds (a vLLM server ~7: its engine core waits for its worker, then
        is killed after vLLM's 5 s timeout); nothing waits for a stopped server, so the next test
        need not either. ``close`` (the session's end) waits for every one.
        """
        self._idle.discard(config)
        entry = self._running.pop(config, None)
        if entry is None:
            return
        manager, server = entry
        if server.alive():
            server.process.send_signal(signal.SIGTERM)
        stopping = threading.Thread(target=manager.__exit__, args=(None, None, None), name=f"stop {config.describe()}")
        stopping.start()
        self._stopping.append(stopping)

    def close(self) -> None:
        for config in list(self._running):
            self.stop(config)
        for stopping in self._stopping:
            stopping.join()
        self._stopping.clear()


# --- the shared servers -------------------------------------------------------------------------

#: Two CPU threads per engine: the suite runs on two cores.
THREADS = {"OCULI_THREADS": "2"}


def internvl(checkpoint: Path) -> Config:
    """The tiny InternVL on transformers, HTTP + gRPC: the API, gRPC, Files and conformance tests' server."""
    return Config.of(checkpoint, env=THREADS)


def lite() -> Config:
    """oculi-lite (no ``--model``), HTTP + gRPC; background jobs polled every 0.2 s so batches finish quickly."""
    return Config.of(env={"OCULI_JOB_POLL_SECONDS": "0.2"})


MiB = 1024 * 1024
#: Limits of the shared scripted server: small, so 413 and 429 are cheap to reach.
SCRIPTED_MAX_BODY = 4 * MiB
SCRIPTED_MAX_QUEUE = 4
SCRIPTED_MAX_IMAGE_BUDGET = 1 * MiB


def scripted() -> Config:
    """The scripted engine (``oculi.testing.scripted``: behaviours a real model cannot show on demand), small limits."""
    env = {
        "OCULI_MAX_BODY_BYTES": str(SCRIPTED_MAX_BODY),
        "OCULI_MAX_QUEUE": str(SCRIPTED_MAX_QUEUE),
        "OCULI_MAX_INFLIGHT_IMAGE_BYTES": str(SCRIPTED_MAX_IMAGE_BUDGET),
    }
    return Config.of(env=env, scripted=True)


#: Reasoning tokens of the ``low`` effort on the thinking servers (``medium``: twice as many).
THINKING_BUDGET = 6


def thinking(checkpoint: Path, budgets: Mapping[str, int] | None = None) -> Config:
    """The tiny thinking checkpoint on transformers with small reasoning budgets (``OCULI_REASONING_BUDGETS``)."""
    budgets = budgets or {"low": THINKING_BUDGET, "medium": 2 * THINKING_BUDGET}
    return Config.of(checkpoint, env={**THREADS, "OCULI_REASONING_BUDGETS": json.dumps(dict(budgets))})


#: The tiny checkpoints of the SPEC §3 families other than InternVL (each its own ``oculi.families`` entry),
#: served on every engine (``tiny_family``).
FAMILY_CHECKPOINTS = ["tiny-qwen2_5_vl", "tiny-qwen3_vl", "tiny-qwen3_5", "tiny-glm4v", "tiny-gemma3", "tiny-gemma4"]


def family(checkpoint: Path, engine_env: Mapping[str, str] | None = None) -> Config:
    """One SPEC §3 family's tiny checkpoint (or GGUF) on the engine ``engine_env`` selects (transformers by default)."""
    return Config.of(checkpoint, env={**THREADS, **(engine_env or {})})


#: The families the vLLM engine is checked on: the suite's and GLM-4.5V's mixture-of-experts form (its own model code
#: there).
VLLM_FAMILIES = [*FAMILY_CHECKPOINTS, "tiny-glm4v_moe"]
#: KV cache of each engine of that server (``--vllm-arg kv_cache_memory_bytes``).
VLLM_FAMILY_KV_BYTES = 256 * 1024 * 1024


def vllm_families() -> Config:
    """The one vLLM server of the family and thinking tests: the tiny thinking checkpoint first (the default model,
    what ``grok-4`` names) and every family after it (named by the family tests), each its own vLLM engine.

    A context of 8192 (12 MP at ``high`` on Qwen is 7 views in one prompt), 16 sequences at once, the suite's
    reasoning budgets, and 256 MiB of KV cache per engine (vLLM's CPU setting ``VLLM_CPU_KVCACHE_SPACE`` counts
    whole GiB: 8 GiB for 8 engines).
    """
    env = {
        **{k: v for k, v in VLLM_ONE_WORKER_ENV.items() if k != "VLLM_CPU_KVCACHE_SPACE"},
        "OCULI_VLLM_ARGS": f"kv_cache_memory_bytes={VLLM_FAMILY_KV_BYTES}",
        "OCULI_VLLM_MAX_MODEL_LEN": "8192",
        "OCULI_MAX_BATCH_SIZE": "16",
        "OCULI_REASONING_BUDGETS": json.dumps({"low": THINKING_BUDGET, "medium": 2 * THINKING_BUDGET}),
    }
    names = ["tiny-internvl-thinking-vllm", *VLLM_FAMILIES]
    return families([cached_checkpoint(name) for name in names], env)


def families(checkpoints: Sequence[Path], engine_env: Mapping[str, str] | None = None) -> Config:
    """Every family's tiny checkpoint (or GGUF) in one server, each its own model, on the engine ``engine_env`` selects.

    One process loads the engine library once for all: the family API tests of an engine share it
    (a test names its family's model, ``family_checks.served_model``).
    """
    return Config.of(*checkpoints, env={**THREADS, **(engine_env or {})})


# --- the app in this process -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def app_client(settings: Settings, registry: EngineRegistry | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The whole HTTP app in this process (``Runtime.open`` + ``create_app``), called through httpx's ASGI transport.

    For what needs no process of its own: configuration (a parser, a key set) and the
    probes' answers. ``registry`` injects engines (e.g. the scripted one); by default
    the settings' models are loaded as a server would load them.
    """
    from oculi.app import create_app
    from oculi.runtime import Runtime

    runtime = await Runtime.open(settings, registry=registry)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://oculi", timeout=120) as client:
            yield client
    finally:
        await runtime.close()


def vllm_available() -> bool:
    """Whether the vLLM engine can run here (CI always installs it: there a missing vLLM is a failure)."""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None or bool(os.environ.get("CI"))
