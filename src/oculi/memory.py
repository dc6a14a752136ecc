"""Give memory back to the system after a burst (glibc only; a no-op elsewhere).

After 64 clients sent big photos, the server held 2.5–3.4 GB while idle:
the requests' pixels were freed, but into glibc malloc's per-thread arenas,
which keep freed pages mapped. Two calls into glibc (no library wraps them):

- ``limit_arenas``: ``mallopt(M_ARENA_MAX, n)`` before the worker threads
  start, so fewer arenas hold fragmented free memory (what the
  ``MALLOC_ARENA_MAX`` environment variable does, settable from the config);
- ``Trimmer``: ``malloc_trim(0)`` in a thread once the server goes idle
  (the last admitted request finished), which returns the free pages of
  every arena to the system.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h
#: Seconds of idleness before trimming: a burst's last request is followed by no other.
TRIM_DELAY = 1.0


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_LIBC = _libc()


def limit_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas (call before threads start); ``arenas`` 0 leaves glibc's default."""
    if _LIBC is None or arenas <= 0:
        return False
    return bool(_LIBC.mallopt(_M_ARENA_MAX, arenas))


def trim() -> bool:
    """Return free heap pages of every arena to the system; whether anything was released."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))


class Trimmer:
    """Calls ``trim`` in a thread once the server has been idle for ``TRIM_DELAY`` seconds."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and _LIBC is not None
        self._timer: asyncio.TimerHandle | None = None
        self._lock = threading.Lock()

    def idle(self) -> None:
        """The last request finished: trim soon, unless another one starts first (``busy``)."""
        if not self.enabled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.busy()
        self._timer = loop.call_later(TRIM_DELAY, self._start)

    def busy(self) -> None:
        """A request started: no trim while it runs."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start(self) -> None:
        self._timer = None
        threading.Thread(target=self._run, name="oculi-malloc-trim", daemon=True).start()

    def _run(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # one trim at a time
        try:
            trim()
        finally:
            self._lock.release()
