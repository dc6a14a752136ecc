"""The pipeline's split of a thinking model's text into reasoning and content, as it streams.

``ThinkSplitter`` follows one choice's text. It starts inside the thinking
when the prompt opened the block; otherwise it watches the first characters
for the start tag (a model that opens the block itself) and, when they are
not, passes everything through as content. Inside, text up to the end tag is
reasoning; the tag itself never leaves; the newlines after it are dropped.
Text that could be the start of a tag is held back until the next piece
decides it, so a tag split over tokens or deltas never leaks.

``ReasoningCollector`` applies it to every delta of a run (before tool-call
parsing, which only sees content) and keeps each choice's reasoning.
"""

from __future__ import annotations

from oculi.domain import Delta
from oculi.reasoning.formats import ReasoningFormat

_WATCH, _INSIDE, _AFTER = 0, 1, 2


def _held(text: str, marker: str) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of ``marker``."""
    if text.rfind(marker[0], max(0, len(text) - len(marker) + 1)) < 0:
        return 0  # the common case, decided by one scan of the last few characters
    for k in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:k]):
            return k
    return 0


class ThinkSplitter:
    """One choice's text → (reasoning, content) pieces (see module docstring)."""

    def __init__(self, fmt: ReasoningFormat, inside: bool) -> None:
        self.start = fmt.start
        self.end = fmt.end
        self.state = _INSIDE if inside else _WATCH
        self.pending = ""
        self.lead = True  # drop the newlines that follow the end tag

    @property
    def thinking(self) -> bool:
        """Still inside (or possibly about to open) the think block."""
        return self.state != _AFTER

    def feed(self, text: str) -> tuple[str, str]:
        """Add generated text; return the (reasoning, content) it settles."""
        if self.state == _AFTER and not self.lead:
            return "", text  # the common case once the answer runs: no copies, no scans
        self.pending += text
        reasoning = ""
        if self.state == _WATCH:
            head = self.pending.lstrip()
            if self.start.startswith(head):
                return "", ""  # blank or a prefix of the start tag so far: undecided
            if head.startswith(self.start):
                self.state = _INSIDE
                self.pending = head[len(self.start) :].lstrip("\n")
            else:
                self.state = _AFTER
                self.lead = False
        if self.state == _INSIDE:
            cut = self.pending.find(self.end)
            if cut < 0:
                keep = _held(self.pending, self.end)
                reasoning = self.pending[: len(self.pending) - keep]
                self.pending = self.pending[len(self.pending) - keep :]
                return reasoning, ""
            reasoning, self.pending = self.pending[:cut], self.pending[cut + len(self.end) :]
            self.state = _AFTER
        content, self.pending = self.pending, ""
        if self.lead:
            content = content.lstrip("\n")
            self.lead = not content
        return reasoning, content

    def finish(self) -> tuple[str, str]:
        """The end of the text: held-back text goes where its state says."""
        rest, self.pending = self.pending, ""
        if self.state == _INSIDE:
            return rest, ""
        return "", rest if self.state == _WATCH else rest.lstrip("\n") if self.lead else rest


class ReasoningCollector:
    """The split for one run: ``delta`` rewrites each delta; ``reasoning(i)`` is choice i's whole thinking."""

    def __init__(self, fmt: ReasoningFormat | None, inside: bool) -> None:
        self.fmt = fmt
        self.inside = inside
        self.splitters: dict[int, ThinkSplitter] = {}
        self.texts: dict[int, list[str]] = {}

    @property
    def enabled(self) -> bool:
        """Whether this run splits at all (a thinking model)."""
        return self.fmt is not None

    def delta(self, delta: Delta) -> Delta:
        """``delta`` with its thinking moved from ``text`` to ``reasoning`` (in place)."""
        if self.fmt is None or (not delta.text and delta.finish_reason is None):
            return delta
        splitter = self.splitters.get(delta.index)
        if splitter is None:
            splitter = self.splitters[delta.index] = ThinkSplitter(self.fmt, self.inside)
        reasoning, content = splitter.feed(delta.text)
        if delta.finish_reason is not None:
            more, rest = splitter.finish()
            reasoning, content = reasoning + more, content + rest
        if reasoning:
            self.texts.setdefault(delta.index, []).append(reasoning)
        # The pipeline owns the engine's delta: rewritten in place (a copy per token costs more than the split).
        delta.text, delta.reasoning = content, reasoning
        return delta

    def reasoning(self, index: int) -> str:
        """All the thinking of choice ``index``."""
        return "".join(self.texts.get(index, []))
