"""The conformance harness: a real ``oculi serve`` and a runner for the example programs.

Every seed example lives verbatim (host, key and image URL read from the
environment) in ``examples/``. A test runs one as a subprocess — the venv's
Python, ``node`` or ``bash`` — against ONE real ``oculi serve`` process that
serves the tiny random-weight InternVL checkpoint, and checks what the
official client printed. Images come from a local HTTP server on 127.0.0.1
(``conformance_images``), which the server admits with ``--fetch-allow 127.0.0.1/32``.

Where the seed does not print the usage, the harness runs a *copy* of the
example with one line appended that prints it (the original stays intact),
marked with ``IMAGE_TOKENS_MARK`` so the test can find it in the output.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import KEY as API_KEY  # the key the test server accepts: the suite's first

EXAMPLES = Path(__file__).resolve().parent / "examples"
REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"

#: Printed in front of the image-token count by the appended usage probes.
IMAGE_TOKENS_MARK = "OCULI_IMAGE_TOKENS="

# --- the oculi server -------------------------------------------------------------------------


@dataclass
class OculiServer:
    """A running ``oculi serve`` subprocess and how to reach it."""

    process: subprocess.Popen[bytes] | None
    http_port: int
    grpc_port: int
    log_path: Path | None

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``.../v1``)."""
        return f"http://127.0.0.1:{self.http_port}/v1"

    @property
    def api_host(self) -> str:
        """The xai-sdk ``api_host``: ``localhost:PORT`` (the SDK picks local channel credentials for it)."""
        return f"localhost:{self.grpc_port}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        if self.log_path is None:
            return "(an external server: no log)"
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


def external_server(spec: str) -> OculiServer:
    """An already running server, ``HTTP_PORT:GRPC_PORT`` on 127.0.0.1 (``$OCULI_CONFORMANCE_SERVER``).

    For running the suite against a server started by hand (e.g. under a
    debugger, or on a GPU box through an SSH tunnel); it must accept ``API_KEY``.
    """
    http_port, grpc_port = (int(p) for p in spec.split(":"))
    server = OculiServer(None, http_port, grpc_port, None)
    _wait_ready(server, 10)
    return server


def _wait_ready(server: OculiServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"oculi serve exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            health = httpx.get(f"http://127.0.0.1:{server.http_port}/health", timeout=2)
            with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=2):
                pass
            if health.status_code == 200:
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"oculi serve did not become ready in {timeout:.0f}s:\n{server.log_tail()}")


# --- the clients the examples run with ------------------------------------------------------------


@dataclass(frozen=True)
class Clients:
    """One set of official clients: the Python that has openai / xai-sdk, the ``node_modules`` with the npm ones."""

    name: str
    python: str
    node_modules: Path

    def version(self, package: str) -> str | None:
        """The installed version of a client package (``openai``, ``xai-sdk``, ``npm:openai``, ``npm:@ai-sdk/xai``)."""
        if package.startswith("npm:"):
            manifest = self.node_modules / package.removeprefix("npm:") / "package.json"
            return json.loads(manifest.read_text())["version"] if manifest.is_file() else None
        code = f"import importlib.metadata as m; print(m.version({package!r}))"
        done = subprocess.run([self.python, "-c", code], capture_output=True, text=True, timeout=60)
        return done.stdout.strip() if done.returncode == 0 else None


#: The clients pinned by pyproject.toml / constraints.txt and package-lock.json (the install command's).
PINNED = Clients("pinned", sys.executable, NODE_MODULES)


def client_packages(example: str) -> tuple[str, ...]:
    """The client packages an example program runs on (none for curl)."""
    if example.startswith("xai_sdk_"):
        return ("xai-sdk",)
    if example.startswith("openai_"):
        return ("npm:openai",) if example.endswith(".mjs") else ("openai",)
    if example.startswith("ai_sdk_"):
        return ("npm:ai", "npm:@ai-sdk/xai")
    return ()


# --- running one example -------------------------------------------------------------------------


@dataclass
class ExampleRun:
    """What one example program did."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    server_log: str = ""

    def image_tokens(self) -> int:
        """The count the usage probe (or the example itself, on its last line) printed."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith(IMAGE_TOKENS_MARK):
                return int(line[len(IMAGE_TOKENS_MARK) :])
        return int(self.stdout.strip().splitlines()[-1])

    def explain(self) -> str:
        """Everything needed to see why a run failed."""
        return (
            f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
            f"\n--- end of the oculi serve log\n{self.server_log}"
        )


#: Runs a Python example as ``__main__``; on an uncaught client error it also prints the
#: error body the client parsed (``exc.body``) before the usual traceback, because
#: openai-python 3.x puts only ``body["error"]["message"]`` into the exception text
#: and the xAI error shape has ``error`` as a string (see docs/clients.md).
PYTHON_RUNNER = """
import runpy, sys
path = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    runpy.run_path(path, run_name="__main__")
except Exception as exc:
    body = getattr(exc, "body", None)
    if body is not None:
        print(f"{type(exc).__name__}.body: {body!r}", file=sys.stderr)
    raise
"""


#: Example programs run at once by ``ExampleRunner.submit``: most of a run is the client's
#: start-up (imports), and the server batches concurrent requests.
PARALLEL_RUNS = 3


@dataclass
class ExampleRunner:
    """Runs example programs against one server, each in its own scratch directory."""

    server: OculiServer
    scratch: Path
    env: dict[str, str] = field(default_factory=dict)
    clients: Clients = PINNED
    _pool: ThreadPoolExecutor | None = None

    def submit(self, name: str, **options: Any) -> Future[ExampleRun]:
        """``run`` in the background (``PARALLEL_RUNS`` at a time); the future holds the result."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=PARALLEL_RUNS, thread_name_prefix="example")
        return self._pool.submit(self.run, name, **options)

    def close(self) -> None:
        """Wait for submitted runs and stop the pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def run(
        self,
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        replace: Mapping[str, str] | None = None,
        probe: str | None = None,
        files: Mapping[str, Path] | None = None,
        preload: str | None = None,
        timeout: float = 180.0,
    ) -> ExampleRun:
        """Run ``examples/<name>``; ``replace`` edits and ``probe`` (a line appended) make a copy.

        ``files`` are copied into the scratch directory under the given
        relative names (e.g. ``data/comic-cat.png``); ``preload`` is an
        example module node loads first with ``--import``.
        """
        source = (EXAMPLES / name).read_text()
        for old, new in (replace or {}).items():
            if old not in source:
                raise ValueError(f"{name}: text to replace not found: {old!r}")
            source = source.replace(old, new)
        if probe is not None:
            source = source.rstrip("\n") + "\n" + probe + "\n"
        workdir = self.scratch / f"{Path(name).stem}-{time.monotonic_ns()}"
        workdir.mkdir(parents=True)
        program = workdir / name
        program.write_text(source)
        for rel, src in (files or {}).items():
            (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, workdir / rel)
        argv = self._argv(program, workdir, preload)
        merged = {
            **os.environ,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "XAI_API_KEY": API_KEY,
            "OCULI_BASE_URL": self.server.base_url,
            "OCULI_API_HOST": self.server.api_host,
            **self.env,
            **(env or {}),
        }
        done = subprocess.run(argv, cwd=workdir, env=merged, capture_output=True, text=True, timeout=timeout)
        return ExampleRun(argv, done.returncode, done.stdout, done.stderr, self.server.log_tail())

    def _argv(self, program: Path, workdir: Path, preload: str | None) -> list[str]:
        if program.suffix == ".py":
            return [self.clients.python, "-c", PYTHON_RUNNER, str(program)]
        if program.suffix == ".sh":
            return ["bash", str(program)]
        # ESM resolves bare imports from the importing file's directory upwards.
        (workdir / "node_modules").symlink_to(self.clients.node_modules, target_is_directory=True)
        argv = [node_executable() or "node"]
        if preload is not None:
            shutil.copyfile(EXAMPLES / preload, workdir / preload)
            argv += ["--import", f"./{preload}"]
        return [*argv, str(program)]


def program_marks(program: str) -> list[pytest.MarkDecorator]:
    """Marks for a test running ``program``: ``node`` for npm clients, plus a skip saying why when they cannot run."""
    if not program.endswith(".mjs"):
        return []
    reason = node_missing_reason()
    return [pytest.mark.node] + ([pytest.mark.skip(reason=reason)] if reason else [])


def node_executable() -> str | None:
    """``node`` on PATH, or None."""
    return shutil.which("node")


def node_missing_reason() -> str | None:
    """Why the npm examples cannot run here, or None when they can."""
    if node_executable() is None:
        return "node is not installed"
    for package in ("openai", "ai", "@ai-sdk/xai"):
        if not (NODE_MODULES / package / "package.json").is_file():
            return f"node_modules/{package} is missing: run `npm ci` in the repository root"
    return None
