"""Helpers of the adversarial suite: a memory and liveness guard on a real server, hostile inputs.

``Guard`` watches a running ``oculi serve`` process from two threads while a
test attacks it: one samples its resident memory every 50 ms (and kills it,
failing the test, should it pass a hard ceiling, so a regression cannot take
the shared machine's memory), the other asks ``/health`` four times a second.
``Guard.check`` then asserts: the process is alive, its peak RSS stayed under
the bound, and every ``/health`` answered 200 in under a second.
"""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import numpy as np
from PIL import Image
from servers import KEY

from oculi.testing.server import ServerProcess

AUTH = {"authorization": f"Bearer {KEY}"}
MiB = 1024 * 1024
#: ``/health`` must answer within this while the server is under attack (SPEC §10).
HEALTH_LIMIT_S = 1.0


_PROBE = """
import json, select, sys, time
import httpx
worst, failures = 0.0, []
with httpx.Client(timeout=10) as client:
    while not select.select([sys.stdin], [], [], 0.25)[0]:
        started = time.monotonic()
        try:
            status = client.get(sys.argv[1]).status_code
        except httpx.HTTPError as exc:
            failures.append(type(exc).__name__)
            continue
        worst = max(worst, time.monotonic() - started)
        if status != 200:
            failures.append(str(status))
print(json.dumps({"worst": worst, "failures": failures}))
"""


class Guard:
    """Peak RSS and ``/health`` latency of ``server`` while a test runs (see module docstring)."""

    def __init__(self, server: ServerProcess, rss_bound: int) -> None:
        self.server = server
        self.rss_bound = rss_bound
        self.hard_ceiling = rss_bound + 2048 * MiB
        self.start_rss = server.rss_bytes()
        self.peak_rss = self.start_rss
        self.killed = False
        self.health_worst = 0.0
        self.health_failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._watch_rss, daemon=True), threading.Thread(target=self._probe)]

    def _watch_rss(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.server.rss_bytes()
            except (OSError, RuntimeError):
                return  # the process is gone; ``check`` reports it
            self.peak_rss = max(self.peak_rss, rss)
            if rss > self.hard_ceiling:
                self.killed = True
                os.kill(self.server.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    def _probe(self) -> None:
        # In its own process: this one's client threads (JSON-encoding big bodies) hold its GIL
        # for long stretches, which would be measured as /health latency.
        probe = subprocess.Popen(
            [sys.executable, "-c", _PROBE, self.server.base_url + "/health"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._stop.wait()
        out, _ = probe.communicate("stop\n", timeout=30)
        result = json.loads(out)
        self.health_worst = result["worst"]
        self.health_failures = result["failures"]

    def __enter__(self) -> Guard:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def check(self) -> None:
        """The server survived, within its memory bound, with ``/health`` fast throughout."""
        assert not self.killed, f"server killed at the hard ceiling: RSS {self.peak_rss / MiB:.0f} MiB"
        assert self.server.alive(), f"the server died:\n{self.server.log_text()[-3000:]}"
        assert self.peak_rss <= self.rss_bound, (
            f"peak RSS {self.peak_rss / MiB:.0f} MiB over the bound {self.rss_bound / MiB:.0f} MiB "
            f"(start {self.start_rss / MiB:.0f} MiB)"
        )
        assert not self.health_failures, f"/health failed: {self.health_failures}"
        assert self.health_worst < HEALTH_LIMIT_S, f"/health took {self.health_worst:.2f} s"


@contextmanager
def guarded(server: ServerProcess, rss_bound: int) -> Iterator[Guard]:
    """``with guarded(server, bound) as guard: ...`` then ``guard.check()`` is asserted on exit."""
    with Guard(server, rss_bound) as guard:
        yield guard
    guard.check()


def assert_client_error_or_ok(response: httpx.Response) -> None:
    """200 or a 4xx in oculi's error shape whose message shows no internals."""
    assert response.status_code == 200 or 400 <= response.status_code < 500, (
        f"{response.status_code}: {response.text[:500]}"
    )
    if response.status_code != 200:
        body = response.json()
        assert set(body) >= {"code", "error"}, body
        assert_no_internals(body["error"])


def assert_no_internals(message: str) -> None:
    """No object reprs, memory addresses, file paths or tracebacks in a message meant for a caller."""
    for marker in (" object at 0x", "<_io.", "Traceback", "site-packages", "/usr/", '.py"', 'File "'):
        assert marker not in message, f"{marker!r} in {message!r}"


# --- hostile images -------------------------------------------------------------------------------


def png(width: int, height: int, *, noise: bool = False, seed: int = 0) -> bytes:
    """A PNG of ``width × height``: random noise (incompressible) or a flat grey with a stripe."""
    if noise:
        pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    else:
        pixels = np.full((height, width, 3), 200, dtype=np.uint8)
        pixels[: max(1, height // 3)] = (30, 60, 90)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A photo-like JPEG (smooth gradients plus mild noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // max(1, width)), (y * 255 // max(1, height)), ((x + y) % 256)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def bad_crc_png() -> bytes:
    """A small PNG whose IHDR checksum is wrong."""
    data = bytearray(png(8, 8))
    crc_at = 8 + 8 + 13  # signature, IHDR length+type, IHDR payload
    data[crc_at : crc_at + 4] = struct.pack(">I", (zlib.crc32(bytes(data[12:29])) + 1) & 0xFFFFFFFF)
    return bytes(data)


def truncated_png() -> bytes:
    """A PNG cut off in the middle of its image data."""
    data = png(64, 64, noise=True)
    return data[: len(data) // 2]
