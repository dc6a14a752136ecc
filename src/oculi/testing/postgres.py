"""A private PostgreSQL server for fault tests and the soak bench: started, ``kill -9``-ed and restarted at will.

    with private_postgres() as pg:
        url = pg.url                # postgresql://postgres@127.0.0.1:<port>/postgres
        pg.kill()                   # SIGKILL to the postmaster and every backend at once
        pg.start()                  # crash recovery from the WAL, same data, same port

Never the machine's shared server: the cluster is a new ``initdb`` in a
temporary directory, listening on a port of its own (and its own socket
directory). The binaries are the installed ones (``pg_config --bindir``).
PostgreSQL refuses to run as root, so when this process is root the server
runs as the ``postgres`` user, which then owns the directory.

``kill`` stops the postmaster (SIGSTOP: it forks no more), SIGKILLs every
process it forked and then itself, and waits until they are all gone: the
server dies at once, as in a machine crash, so the restart runs real crash
recovery. A process-group kill is not enough: each backend and auxiliary
process calls ``setsid()`` at birth (``InitPostmasterChild``), so only the
postmaster would die, and backends finishing their work could still hold its
shared memory when the new postmaster starts.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from oculi.testing.processes import children_of, kill_all, wait_gone

#: Ports below the kernel's ephemeral range (``ip_local_port_range`` starts at 32768 by default).
_STABLE_PORTS = range(20000, 32000)


def stable_port() -> int:
    """A free TCP port the kernel will not hand to anyone else's ``bind(0)`` while PostgreSQL is down.

    The server is killed and restarted on the same port (the replicas' store URL names it); a port
    from the ephemeral range could be taken by another test server's ``free_port()`` during the
    outage, and the restart would fail with "address already in use".
    """

    for port in random.sample(_STABLE_PORTS, 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


READY_TIMEOUT_S = 60.0


def pg_bindir() -> Path:
    """The installed PostgreSQL's binaries (``pg_config --bindir``); ``FileNotFoundError`` when absent."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise FileNotFoundError("pg_config is not installed: no PostgreSQL binaries for a private server")
    return Path(subprocess.run([pg_config, "--bindir"], check=True, capture_output=True, text=True).stdout.strip())


class PrivatePostgres:
    """One private cluster in ``root`` (see module docstring)."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log_path = root / "postgres.log"
        self.port = port or stable_port()
        self.bindir = pg_bindir()
        self.process: subprocess.Popen[bytes] | None = None
        self._user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        """``initdb`` a new cluster (trust auth on loopback, superuser ``postgres``)."""
        for folder in (self.root, self.sockets):
            folder.mkdir(parents=True, exist_ok=True)
            self._own(folder)
        subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            **self._as_owner(),
        )

    def start(self) -> None:
        """Start the server (after ``init``, or again after ``kill``) and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        argv = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.sockets),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=100",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **self._as_owner()
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"PostgreSQL exited at start (exit status {self.process.returncode}):\n{self.log_text()[-2000:]}"
                )
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the postmaster and every process it forked, at once (a crash); return when all are gone."""
        if self.process is None:
            return
        postmaster = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(postmaster, signal.SIGSTOP)
        children = children_of(postmaster)
        kill_all([*children, postmaster])
        self.process.wait()
        self.process = None
        wait_gone(children, what="PostgreSQL process")

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL if it lingers."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _own(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _as_owner(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": [], "cwd": str(self.root)}


@contextlib.contextmanager
def private_postgres(root: Path | None = None) -> Iterator[PrivatePostgres]:
    """A started private cluster, stopped and deleted on exit (``root``: keep it there instead of a temp dir)."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oculi-pg-")))
            os.chmod(root, 0o755)  # the postgres user must reach its folders inside
        pg = PrivatePostgres(root / "cluster")
        pg.init()
        pg.start()
        try:
            yield pg
        finally:
            pg.stop()
