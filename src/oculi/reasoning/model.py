"""A loaded thinking model, engine side: its tag ids, and per request its template switch and trackers.

Each engine recognises a thinking model from its chat template
(``formats.detect_format``) and builds one ``ThinkingModel`` with its own
tokenizer; for each request it gives the chat template its switch
(``enable_thinking``) and each choice a ``ThinkTracker`` (``tracker``) that
the engine consults before sampling (budget, grammar) and after (counts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oculi.reasoning.effort import ThinkingPlan
from oculi.reasoning.formats import ReasoningFormat, template_switch
from oculi.reasoning.tracker import ThinkTokens, ThinkTracker


class ThinkingModel:
    """One loaded thinking model, engine side: its format and tag ids; per request a switch and trackers."""

    def __init__(self, fmt: ReasoningFormat, encode: Callable[[str], list[int]]) -> None:
        self.fmt = fmt
        self.tokens = ThinkTokens.of(fmt, encode)

    def tags(self) -> frozenset[int]:
        """Every token of the start and end tags (an engine that renders each token may keep them all)."""
        return frozenset((*self.tokens.start, *self.tokens.end))

    def special_tags(self, tokenizer: Any) -> frozenset[int]:
        """The tag tokens that are special tokens (Gemma 4's): the engine's text keeps them for the split."""
        special = set(getattr(tokenizer, "all_special_ids", ()))
        added = getattr(tokenizer, "added_tokens_decoder", {})  # the additional special tokens are marked only here
        special.update(i for i, token in added.items() if getattr(token, "special", False))
        return frozenset(t for t in (*self.tokens.start, *self.tokens.end) if t in special)

    def switch(self, plan: ThinkingPlan | None) -> dict[str, bool]:
        """Chat-template variables for ``plan`` (``enable_thinking`` where the template has it)."""
        return template_switch(self.fmt, plan is None or plan.enabled)

    def trackers(self, plan: ThinkingPlan | None, n: int) -> list[ThinkTracker] | None:
        """One tracker per choice (None when the request does not think: not a thinking request)."""
        if plan is None:
            return None
        inside = plan.starts_inside(self.fmt)
        return [ThinkTracker(self.tokens, inside=inside, budget=plan.budget) for _ in range(n)]
