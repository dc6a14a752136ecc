"""Thinking on the new families, each with its own template convention (transformers engine, in-process).

- Qwen3.5 and GLM-4.1V think by default: the generation prompt opens the
  think block (``<think>\\n`` / ``<think>``), ``reasoning_effort: "none"``
  writes the empty block their templates write for ``enable_thinking=false``,
  and a budget ends the thinking after exactly that many reasoning tokens
  (the engine forces ``</think>``), with the rest of ``max_tokens`` for the
  answer; the pipeline's split puts the forced end's text before the answer.
- Gemma 4 has a thinking mode: ``<|think|>`` opens the system turn when it is
  on, nothing when it is off; the model thinks in
  ``<|channel>thought\\n…<channel|>``, special tokens that the engine's text
  keeps so the split sees them (and drops them from both parts).
"""

from __future__ import annotations

import pytest

from oculi.domain import Conversation, Delta, FinishReason, GenerationParams, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.engines.hf.text import TextStream
from oculi.reasoning.effort import ThinkingPlan
from oculi.reasoning.split import ReasoningCollector


@pytest.fixture(scope="module", params=["tiny-qwen3_5", "tiny-glm4v", "tiny-gemma4"])
def engine(request):
    from oculi.engines import hf
    from oculi.settings import Settings
    from oculi.testing.checkpoints import cached_checkpoint

    engine = hf.load(str(cached_checkpoint(request.param)), Settings(max_batch_size=4, offline=True))
    yield engine
    engine.scheduler.close()


def _request(plan: ThinkingPlan | None, max_tokens: int = 12) -> EngineRequest:
    conversation = Conversation([Message(Role.USER, [TextPart("What is in this image? Describe it.")])])
    return EngineRequest(
        "think", conversation, [], GenerationParams(max_tokens=max_tokens, temperature=0), thinking=plan
    )


def _prompt_text(engine, plan: ThinkingPlan | None) -> str:
    return str(engine.tokenizer.decode(engine.build_prompt(_request(plan)).input_ids[0].tolist()))


def test_each_family_is_a_thinking_model_with_its_own_tags(engine):
    fmt = engine.thinking.fmt
    family = engine.family.name
    expected = {"qwen3_5": ("qwen3", True), "glm4v": ("qwen3", True), "gemma4": ("gemma4", False)}[family]
    assert (fmt.parser, fmt.opens_in_prompt) == expected and fmt.switchable


def test_reasoning_effort_none_turns_thinking_off_through_the_template(engine):
    on, off = _prompt_text(engine, ThinkingPlan()), _prompt_text(engine, ThinkingPlan(enabled=False))
    family = engine.family.name
    if family == "qwen3_5":
        assert on.endswith("<think>\n") and off.endswith("<think>\n\n</think>\n\n")
    elif family == "glm4v":
        assert on.endswith("<think>") and off.endswith("<think></think>\n")
    else:
        assert "<|think|>" in on and "<|think|>" not in off
        assert on.endswith("<|turn>model\n") and off.endswith("<|turn>model\n")


async def test_a_budget_ends_the_thinking_after_that_many_reasoning_tokens(engine, collect):
    if not engine.thinking.fmt.opens_in_prompt:
        pytest.skip("Gemma 4 opens its channel itself: a random model does not (the split is checked below)")
    budget = 5
    result = await collect(engine, _request(ThinkingPlan(budget=budget), max_tokens=12))
    assert result.usage.reasoning_tokens == budget
    assert result.usage.completion_tokens == 12
    end = engine.tokenizer(engine.thinking.fmt.end, add_special_tokens=False)["input_ids"]
    tokens = engine.tokenizer(result.text, add_special_tokens=False)["input_ids"]
    assert engine.thinking.fmt.end in result.text and len(tokens) >= len(end)
    off = await collect(engine, _request(ThinkingPlan(enabled=False), max_tokens=6))
    assert off.usage.reasoning_tokens == 0


def test_gemma4_channel_tags_survive_the_text_and_split_off(engine):
    if engine.family.name != "gemma4":
        pytest.skip("Gemma 4's tags are special tokens; the others' are plain text")
    tokenizer = engine.tokenizer
    ids = tokenizer("<|channel>thought\nA red square.<channel|>It is red.", add_special_tokens=False)["input_ids"]
    keep = engine.thinking.special_tags(tokenizer)
    assert keep == {tokenizer.convert_tokens_to_ids("<|channel>"), tokenizer.convert_tokens_to_ids("<channel|>")}
    stream = TextStream(tokenizer, [], keep)
    text = "".join(stream.push(i)[0] for i in ids) + stream.flush()
    assert text == "<|channel>thought\nA red square.<channel|>It is red."
    assert TextStream(tokenizer, []).push(ids[0])[0] == ""  # without keep the tag would vanish
    collector = ReasoningCollector(engine.thinking.fmt, inside=False)
    pieces = [collector.delta(Delta(index=0, text=t)) for t in (text[:12], text[12:30], text[30:])]
    pieces.append(collector.delta(Delta(index=0, text="", finish_reason=FinishReason.STOP)))
    assert "".join(p.text for p in pieces) == "It is red."
    assert collector.reasoning(0) == "A red square."
    tracker = engine.thinking.trackers(ThinkingPlan(), 1)[0]
    for token in ids:
        tracker.advance(token)
    # reasoning tokens: the channel, its label, the thought and the closing tag
    assert not tracker.thinking and tracker.count == ids.index(tokenizer.convert_tokens_to_ids("<channel|>")) + 1
