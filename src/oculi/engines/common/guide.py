"""One choice's steering around each token it samples: forced tokens, the grammar mask, the thinking tracker.

The engines that sample token by token themselves (transformers, llama.cpp)
do the same three things for every choice, in this order:

1. a thinking choice whose ``reasoning_effort`` budget is spent emits its end
   tag instead of sampling (``forced``);
2. otherwise, a choice with a grammar (``oculi.structured``) masks its logits
   before sampling — but not while it thinks: the grammar applies to the
   answer (``masking`` / ``mask``);
3. the sampled token advances the thinking tracker (reasoning tokens, the
   end of the think block) and, outside the thinking, the grammar; a grammar
   that is complete (or refused the token) ends the answer (``advance``).

vLLM samples on its own side and gets the same behaviour from its own
options (``engines.vllm.thinking``); it only counts with the tracker.
"""

from __future__ import annotations

from typing import TypeVar

from oculi.reasoning.tracker import ThinkTracker
from oculi.structured.matcher import TokenConstraint

Logits = TypeVar("Logits")


class TokenGuide:
    """The grammar and thinking tracker of one choice (either may be None), consulted around each token."""

    def __init__(self, constraint: TokenConstraint | None = None, tracker: ThinkTracker | None = None) -> None:
        self.constraint = constraint
        self.tracker = tracker

    def forced(self) -> int | None:
        """The token to emit instead of sampling (a spent thinking budget's end tag), or None."""
        return self.tracker.forced() if self.tracker is not None else None

    @property
    def thinking(self) -> bool:
        """Inside the think block (no grammar applies yet)."""
        return self.tracker is not None and self.tracker.thinking

    @property
    def masking(self) -> bool:
        """Whether the next token is sampled under the grammar (there is one, and the thinking is over)."""
        return self.constraint is not None and not self.thinking

    def mask(self, logits: Logits) -> Logits:
        """``logits`` with the tokens the grammar forbids at ``-inf`` (in place; call only when ``masking``)."""
        assert self.constraint is not None
        return self.constraint.mask(logits)  # type: ignore[no-any-return]

    def advance(self, token: int) -> bool:
        """Account for the emitted ``token``; True when the grammar is complete, so the answer is whole.

        (A grammar refuses no token sampled under its mask; a refused one ends the answer too.)
        """
        thinking = self.thinking
        if self.tracker is not None:
            self.tracker.advance(token)
        if self.constraint is None or thinking:
            return False
        return not self.constraint.advance(token) or self.constraint.done

    @property
    def reasoning_tokens(self) -> int:
        """Reasoning tokens so far (0 without a tracker)."""
        return self.tracker.count if self.tracker is not None else 0
