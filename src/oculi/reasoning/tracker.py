"""One sequence's thinking at the token level, for the engines that sample (or see) each token.

The pipeline splits the *text* (``split``); an engine needs the tokens: to
count the reasoning tokens of ``usage`` exactly, to end the thinking when a
``reasoning_effort`` budget is spent (the engine emits the end tag's tokens
instead of sampling), and to hold a grammar back until the thinking is over
(structured outputs apply to the answer, not to the thinking).

Reasoning tokens are the think block's tokens, its end tag included. A
budget caps them: once ``budget - len(end tag)`` are spent, the end tag is
forced, so a budgeted answer thinks exactly ``budget`` tokens at most.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oculi.reasoning.formats import ReasoningFormat

_WATCH, _INSIDE, _AFTER = 0, 1, 2


@dataclass(frozen=True)
class ThinkTokens:
    """The token ids of one model's start and end tags."""

    start: tuple[int, ...]
    end: tuple[int, ...]

    @classmethod
    def of(cls, fmt: ReasoningFormat, encode: Callable[[str], list[int]]) -> ThinkTokens:
        """From the model's tokenizer (``encode`` adds no special tokens)."""
        return cls(tuple(encode(fmt.start)), tuple(encode(fmt.end)))


class ThinkTracker:
    """Follows one sequence's tokens through its think block (see module docstring)."""

    def __init__(self, tokens: ThinkTokens, *, inside: bool, budget: int | None = None) -> None:
        self.tokens = tokens
        self.state = _INSIDE if inside else _WATCH
        self.budget = budget
        self.count = 0  # reasoning tokens so far
        self._seen: list[int] = []  # the tail that may be (part of) a tag
        self._forcing: list[int] = []

    @property
    def thinking(self) -> bool:
        """Inside the think block: no grammar applies yet."""
        return self.state == _INSIDE

    def forced(self) -> int | None:
        """The token the engine must emit next instead of sampling (the budget is spent), or None."""
        if self.state != _INSIDE or self.budget is None:
            return None
        if not self._forcing and self.count + len(self.tokens.end) >= self.budget:
            self._forcing = list(self.tokens.end)
        return self._forcing[0] if self._forcing else None

    def advance(self, token: int) -> None:
        """Account for the token the sequence emitted."""
        if self.state == _AFTER:
            return
        if self._forcing and self._forcing[0] == token:
            self._forcing.pop(0)
        self._seen.append(token)
        if self.state == _WATCH:
            start = self.tokens.start
            if tuple(self._seen) == start[: len(self._seen)]:
                if len(self._seen) == len(start):
                    self.state, self.count, self._seen = _INSIDE, len(start), []
                return
            self.state = _AFTER
            return
        self.count += 1
        end, seen = self.tokens.end, self._seen
        if len(seen) > len(end):
            del seen[0]  # one token in, one out: the tail an end tag could fill
        if token == end[-1] and tuple(seen) == end:  # compared only when the tag's last token comes
            self.state = _AFTER
            self._forcing = []
