"""Streaming text out of token bytes: UTF-8 reassembly and stop sequences.

A token is a piece of bytes that may end inside a multi-byte character, and a
stop sequence may span several tokens. ``TextStream`` releases text only
when it can no longer turn out to be the start of a stop sequence, so a
stop sequence never reaches the client, not even in part.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class TextStream:
    """Feed token bytes with ``push``; get back the text that is safe to emit."""

    def __init__(self, stop: Sequence[str]) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = [s for s in stop if s]
        self._held = ""  # decoded text not emitted yet: it may begin a stop sequence
        self.stopped = False

    def push(self, data: bytes) -> str:
        """Add one token's bytes; return newly emittable text (``stopped`` turns true on a stop sequence)."""
        if self.stopped:
            return ""
        self._held += self._decoder.decode(data)
        if not self._stop:
            out, self._held = self._held, ""
            return out
        cut = min((i for i in (self._held.find(s) for s in self._stop) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self._held = self._held[:cut], ""
            return out
        keep = self._partial_stop_suffix()
        out = self._held[: len(self._held) - keep]
        self._held = self._held[len(out) :]
        return out

    def flush(self) -> str:
        """The held-back text when generation ends for another reason than a stop sequence."""
        if self.stopped:
            return ""
        out = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return out

    def _partial_stop_suffix(self) -> int:
        """Length of the longest end of the held text that is a proper prefix of a stop sequence."""
        best = 0
        for stop in self._stop:
            for n in range(min(len(stop) - 1, len(self._held)), best, -1):
                if self._held.endswith(stop[:n]):
                    best = n
                    break
        return best
