"""Thinking on the new families on the llama.cpp engine (their GGUF fixtures, in-process).

The same conventions as on transformers (``tests/unit/engines/hf/test_hf_thinking_families.py``),
read from the GGUF's own chat template and vocabulary:

- Qwen3.5 and GLM-4.1V think by default: a budget ends the thinking after
  exactly that many reasoning tokens (the worker forces ``</think>``) and
  ``reasoning_effort: "none"`` answers without any;
- Gemma 4 thinks in ``<|channel>thought\\n…<channel|>``, control tokens that
  llama.cpp leaves out of a token's text: the worker's text keeps them (so
  the pipeline's split sees them, and drops them from both parts).
"""

from __future__ import annotations

import pytest
from gguf_fixtures import LLAMACPP, load_gguf

from oculi.domain import Conversation, Delta, FinishReason, GenerationParams, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.engines.llamacpp.text import TextStream
from oculi.reasoning.effort import ThinkingPlan
from oculi.reasoning.split import ReasoningCollector
from oculi.settings import Settings

pytestmark = LLAMACPP
#: GGUF fixture → (reasoning parser, whether the generation prompt opens the think block).
FORMATS = {"tiny-qwen3_5": ("qwen3", True), "tiny-glm4v": ("qwen3", True), "tiny-gemma4": ("gemma4", False)}


@pytest.fixture(scope="module", params=sorted(FORMATS))
def engine(request):
    settings = Settings(max_batch_size=2, llamacpp_context=4096, threads=1, offline=True)
    name = request.param
    engine = load_gguf(name, settings)
    engine.fixture = name
    yield engine
    engine.worker.close()


def _request(plan: ThinkingPlan | None, max_tokens: int = 12) -> EngineRequest:
    # (a question the random Qwen3.5 answers at length: to others it says end-of-turn within two tokens)
    conversation = Conversation([Message(Role.USER, [TextPart("Describe the picture in detail.")])])
    return EngineRequest(
        "think", conversation, [], GenerationParams(max_tokens=max_tokens, temperature=0), thinking=plan
    )


def test_the_gguf_template_makes_a_thinking_model_with_the_familys_tags(engine):
    fmt = engine.thinking.fmt
    assert (fmt.parser, fmt.opens_in_prompt) == FORMATS[engine.fixture] and fmt.switchable


@pytest.mark.parametrize("engine", ["tiny-qwen3_5", "tiny-glm4v"], indirect=True)
async def test_a_budget_ends_the_thinking_after_that_many_reasoning_tokens(engine, collect):
    # (not Gemma 4: it opens its channel itself, which a random model does not; its text is checked below)
    budget = 5
    result = await collect(engine, _request(ThinkingPlan(budget=budget), max_tokens=12))
    assert result.usage.reasoning_tokens == budget
    assert result.usage.completion_tokens == 12
    assert engine.thinking.fmt.end in result.text
    off = await collect(engine, _request(ThinkingPlan(enabled=False), max_tokens=6))
    assert off.usage.reasoning_tokens == 0 and engine.thinking.fmt.end not in off.text


@pytest.mark.parametrize("engine", ["tiny-gemma4"], indirect=True)
def test_gemma4_channel_tags_survive_the_workers_text_and_split_off(engine):
    native, worker = engine.worker.native, engine.worker
    written = "<|channel>thought\nA red square.<channel|>It is red."
    ids = native.tokenize(written, add_special=False, parse_special=True)
    assert native.piece(ids[0]) == b""  # llama.cpp's own text of the tag: nothing
    stream = TextStream([])
    text = "".join(stream.push(worker.piece(i)) for i in ids) + stream.flush()
    assert text == written
    collector = ReasoningCollector(engine.thinking.fmt, inside=False)
    pieces = [collector.delta(Delta(index=0, text=t)) for t in (text[:12], text[12:30], text[30:])]
    pieces.append(collector.delta(Delta(index=0, text="", finish_reason=FinishReason.STOP)))
    assert "".join(p.text for p in pieces) == "It is red."
    assert collector.reasoning(0) == "A red square."
