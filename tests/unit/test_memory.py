"""``oculi.memory``: freed heap pages go back to the system when trimmed (glibc)."""

from __future__ import annotations

from pathlib import Path

import pytest

from oculi import memory

MiB = 1024 * 1024
BLOCK = 64 * 1024  # below glibc's mmap threshold (128 KiB): served from the heap, not mmap


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.skipif(memory._LIBC is None, reason="malloc_trim is glibc's")
def test_trim_returns_the_free_pages_between_live_blocks() -> None:
    # 192 MiB of heap blocks, every page written; then all but one in 16 freed. The survivors pin the
    # heap, so free() cannot shrink it: only malloc_trim gives the pages between them back.
    pattern = b"\x01" * BLOCK
    blocks = [bytearray(pattern) for _ in range(192 * MiB // BLOCK)]
    survivors = blocks[::16]
    del blocks
    before = rss()
    assert memory.trim() is True
    after = rss()
    assert before - after > 100 * MiB, f"trim released only {(before - after) / MiB:.0f} MiB"
    assert all(block[0] == 1 and block[-1] == 1 for block in survivors)  # live data untouched


def test_limit_arenas_ignores_zero() -> None:
    assert memory.limit_arenas(0) is False
