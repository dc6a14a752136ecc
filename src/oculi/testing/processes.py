"""Finding and ending the processes a test harness started, children included (read from ``/proc``, Linux).

A server or database may leave children behind when it is killed (PostgreSQL's backends call
``setsid()``; vLLM's engine cores outlive a SIGKILLed front end), so the harnesses collect the
whole tree before stopping its root and SIGKILL what is left after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def _parents() -> dict[int, int]:
    """``{pid: parent pid}`` of every live process (one pass over ``/proc``)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    return parents


def children_of(parent: int) -> list[int]:
    """The live processes whose parent is ``parent``."""
    return [pid for pid, ppid in _parents().items() if ppid == parent]


def descendants_of(root: int) -> list[int]:
    """Every live process below ``root`` (children, their children, ...), from one pass over ``/proc``."""
    parents = _parents()
    found: list[int] = []
    todo = [root]
    while todo:
        below = todo.pop()
        for pid, ppid in parents.items():
            if ppid == below:
                found.append(pid)
                todo.append(pid)
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def kill_all(pids: list[int]) -> None:
    """SIGKILL every one of ``pids`` still running."""
    for pid in pids:
        if running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_gone(pids: list[int], timeout: float = 30.0, what: str = "process") -> None:
    """Until none of ``pids`` runs any more (a zombie left unreaped by a container's init counts as gone)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while running(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} {pid} outlived SIGKILL for {timeout:.0f}s")
            time.sleep(0.05)
