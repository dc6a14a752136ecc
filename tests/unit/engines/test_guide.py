"""The per-choice token guide both sampling engines use (``engines.common.guide``), on real parts.

A real byte-level tokenizer (the test checkpoints' trainer, no model), a real
llguidance matcher compiled from a JSON schema, a real ``ThinkTracker``: the
guide forces a spent budget's end tag, holds the grammar back while the choice
thinks, masks after it, and reports the answer whole when the grammar is.
"""

from __future__ import annotations

import numpy as np
import pytest

from oculi.engines.common.guide import TokenGuide
from oculi.reasoning.tracker import ThinkTokens, ThinkTracker
from oculi.structured.grammar import compile_schema
from oculi.structured.matcher import Constraints
from oculi.testing.vocab import ENDOFTEXT, IM_END, IM_START, save_tokenizer

SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    dest = tmp_path_factory.mktemp("tok")
    return save_tokenizer(dest, [ENDOFTEXT, IM_START, IM_END], "", 512, {}, plain_tokens=("<think>", "</think>"))


@pytest.fixture(scope="module")
def constraints(tokenizer):
    return Constraints.for_hf(tokenizer, {tokenizer.convert_tokens_to_ids(IM_END)})


def _encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _tracker(tokenizer, *, inside: bool, budget: int | None = None) -> ThinkTracker:
    tokens = ThinkTokens(tuple(_encode(tokenizer, "<think>")), tuple(_encode(tokenizer, "</think>")))
    return ThinkTracker(tokens, inside=inside, budget=budget)


def test_a_free_choice_is_never_steered(tokenizer):
    guide = TokenGuide()
    assert guide.forced() is None and not guide.masking and not guide.thinking
    assert guide.advance(5) is False and guide.reasoning_tokens == 0


def test_the_grammar_waits_for_the_thinking_then_masks_and_completes(tokenizer, constraints):
    grammar = compile_schema(SCHEMA, "response_format")
    guide = TokenGuide(constraints.start(grammar), _tracker(tokenizer, inside=True))
    assert guide.thinking and not guide.masking
    for token in _encode(tokenizer, "hmm"):  # free thinking: the grammar sees none of it
        assert guide.advance(token) is False
    for token in _encode(tokenizer, "</think>"):
        assert guide.advance(token) is False
    assert not guide.thinking and guide.masking
    logits = np.zeros(constraints.vocab_size, dtype=np.float32)
    masked = guide.mask(logits)
    allowed = {int(i) for i in np.flatnonzero(np.isfinite(masked))}
    first = _encode(tokenizer, '{"ok": true}')
    assert first[0] in allowed and len(allowed) < constraints.vocab_size / 2
    done = [guide.advance(token) for token in first]
    assert done[-1] is True and not any(done[:-1])
    assert guide.reasoning_tokens == len(_encode(tokenizer, "hmm")) + len(_encode(tokenizer, "</think>"))


def test_a_spent_budget_forces_the_end_tag(tokenizer):
    end = _encode(tokenizer, "</think>")
    guide = TokenGuide(None, _tracker(tokenizer, inside=True, budget=len(end) + 2))
    thought = _encode(tokenizer, "a b c d")[:2]
    for token in thought:
        assert guide.forced() is None
        guide.advance(token)
    forced = []
    while (token := guide.forced()) is not None:
        forced.append(token)
        guide.advance(token)
    assert forced == end and not guide.thinking
    assert guide.reasoning_tokens == len(end) + 2
