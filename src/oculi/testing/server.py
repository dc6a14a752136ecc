"""Run a REAL oculi server as a subprocess for end-to-end tests and benchmarks.

    with running_server(models=[str(checkpoint)], api_keys=["k1"]) as server:
        client = OpenAI(base_url=server.v1, api_key="k1")
        xai = xai_sdk.Client(api_host=server.grpc_address, api_key="k1")

The server is ``oculi serve`` (the console script next to this Python,
given the settings as its command-line flags), or ``python -m oculi.server``
when the script is not installed, or — with ``scripted=True`` — the scripted
engine of ``oculi.testing.scripted``; the latter two read the same settings
from ``OCULI_*`` environment variables (always set, so every variant agrees).
It listens on free ports of 127.0.0.1. Unless given, the store is a fresh
SQLite file in a temporary directory (``server.db_path``). The context manager waits until ``/health``
answers (so both HTTP and gRPC are up), and on exit sends SIGTERM (graceful
shutdown), then SIGKILL if the process does not stop. The process's output
goes to ``server.log_path``; ``server.log_text()`` reads it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from oculi.testing.processes import descendants_of, kill_all, wait_gone

SERVER_COMMAND = (sys.executable, "-m", "oculi.server")
SCRIPTED_COMMAND = (sys.executable, "-m", "oculi.testing.scripted")
#: ``oculi serve``: the console script installed next to the running interpreter.
CLI = Path(sys.executable).parent / "oculi"


def cli_flags(
    models: Sequence[str], api_keys: Sequence[str], store_url: str, fetch_allow: Sequence[str], port: int, grpc: int
) -> list[str]:
    """``oculi serve`` flags for these settings (SPEC §8's command-line contract)."""
    flags = ["--host", "127.0.0.1", "--port", str(port), "--grpc-port", str(grpc), "--store", store_url]
    for model in models:
        flags += ["--model", model]
    for key in api_keys:
        flags += ["--api-key", key]
    for allowed in fetch_allow:
        flags += ["--fetch-allow", allowed]
    return flags


BIND_ATTEMPTS = 3


def _lost_port_race(server: ServerProcess) -> bool:
    """Whether ``server`` stopped because its port was taken between ``free_port()`` and its bind."""
    log = server.log_text()
    return "address already in use" in log or "Failed to bind" in log


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """A running server: where to reach it and how to look inside."""

    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    store_url: str
    log_path: Path
    api_keys: list[str] = field(default_factory=list)
    db_path: Path | None = None  # the SQLite file, when the store is SQLite

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def v1(self) -> str:
        """The OpenAI clients' ``base_url``: ``http://127.0.0.1:PORT/v1``."""
        return self.base_url + "/v1"

    @property
    def grpc_address(self) -> str:
        """xai-sdk's ``api_host``: ``localhost:PORT`` (the SDK uses TLS for any other host name)."""
        return f"localhost:{self.grpc_port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        """Everything the server wrote so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def rss_bytes(self) -> int:
        """Resident memory of the server process (from ``/proc``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmRSS not found")

    def alive(self) -> bool:
        return self.process.poll() is None


def _wait_healthy(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not server.alive():
                code = server.process.returncode
                raise RuntimeError(f"oculi server exited with code {code} during start:\n{server.log_text()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(server.base_url + "/health").status_code == 200:
                    return
            time.sleep(0.2)
    raise TimeoutError(f"oculi server not healthy after {timeout:.0f}s:\n{server.log_text()[-4000:]}")


def stop_server(server: ServerProcess, timeout: float = 20.0) -> int:
    """SIGTERM, wait up to ``timeout`` for a graceful exit, then SIGKILL; return the exit code.

    The processes the server started (vLLM's engine cores, a llama.cpp or OCR helper) are found first
    and SIGKILLed if they outlive it: a server killed mid-shutdown must not leave them holding memory.
    """
    family = descendants_of(server.process.pid)
    if server.alive():
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10)
    kill_all(family)
    wait_gone(family, what="server child process")
    return server.process.returncode


@contextlib.contextmanager
def running_server(
    *,
    models: Sequence[str] = (),
    api_keys: Sequence[str] = (),
    store_url: str | None = None,
    fetch_allow: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    grpc: bool = True,
    scripted: bool = False,
    command: Sequence[str] | None = None,
    startup_timeout: float = 180.0,
) -> Iterator[ServerProcess]:
    """Start a server (see module docstring), yield it when healthy, stop it on exit.

    ``env`` adds or overrides environment variables (any ``OCULI_*`` setting).
    ``command`` replaces the server command (e.g. ``[".venv/bin/oculi", "serve"]``).
    """
    with tempfile.TemporaryDirectory(prefix="oculi-server-") as tmp:
        tmp_path = Path(tmp)
        db_path = tmp_path / "oculi.db" if store_url is None else None
        url = store_url if store_url is not None else f"sqlite:///{db_path}"
        log_path = tmp_path / "server.log"
        # free_port() is only free "right now": another process (or a replica started beside this one)
        # may take the port before the server binds it. Such a start is retried on fresh ports.
        for attempt in range(BIND_ATTEMPTS):
            http_port = free_port()
            grpc_port = free_port() if grpc else 0
            child_env = {
                **os.environ,
                "OCULI_HOST": "127.0.0.1",
                "OCULI_PORT": str(http_port),
                "OCULI_GRPC_PORT": str(grpc_port),
                "OCULI_MODELS": ",".join(models),
                "OCULI_API_KEYS": ",".join(api_keys),
                "OCULI_STORE_URL": url,
                "OCULI_FETCH_ALLOW": ",".join(fetch_allow),
                "OCULI_OFFLINE": "true",
                "XDG_DATA_HOME": str(tmp_path / "data"),
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            }
            if command is not None:
                argv = list(command)
            elif scripted:
                argv = list(SCRIPTED_COMMAND)
            elif CLI.exists():
                argv = [str(CLI), "serve", *cli_flags(models, api_keys, url, fetch_allow, http_port, grpc_port)]
            else:
                argv = list(SERVER_COMMAND)
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(argv, env=child_env, stdout=log_file, stderr=subprocess.STDOUT)
            server = ServerProcess(
                process=process,
                http_port=http_port,
                grpc_port=grpc_port,
                store_url=url,
                log_path=log_path,
                api_keys=list(api_keys),
                db_path=db_path,
            )
            try:
                _wait_healthy(server, startup_timeout)
                break
            except BaseException:
                stop_server(server)
                if attempt + 1 == BIND_ATTEMPTS or not _lost_port_race(server):
                    raise
        try:
            yield server
        finally:
            stop_server(server)
