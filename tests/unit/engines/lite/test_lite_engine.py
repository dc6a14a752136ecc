"""The engine contract: streaming, usage, stop, max_tokens, n, cancellation, errors, tokenizer."""

from __future__ import annotations

import asyncio

import pytest
from lite_support import ask, collect, prepared, render_sign, request
from PIL import Image

from oculi.domain import FinishReason, GenerationParams
from oculi.engines.base import Engine
from oculi.engines.lite import LiteEngine, tokens
from oculi.errors import ImageDecodeError, InvalidRequest

SIGN = render_sign([("NO ENTRY", 64), ("Staff only beyond this point", 28)], size=(700, 220))
QUESTION = "What does the sign say?"


async def test_engine_satisfies_the_protocol(engine: LiteEngine) -> None:
    assert isinstance(engine, Engine)
    assert engine.info.id == "oculi-lite"
    assert engine.pixel_spec.tiles is False and engine.pixel_spec.full_image_max_side


async def test_streams_word_by_word_with_prompt_usage_first_and_final_usage_last(engine: LiteEngine) -> None:
    answer = await ask(engine, QUESTION, SIGN)
    text = answer.text()
    assert "NO ENTRY" in text and "Staff only beyond this point" in text
    assert len(answer.deltas) > 5  # streamed in pieces, not one blob
    first = answer.deltas[0].usage
    assert first is not None and first.completion_tokens == 0 and first.prompt_image_tokens == 768
    assert all(d.usage is None for d in answer.deltas[1:-1])
    assert answer.finish() is FinishReason.STOP
    usage = answer.usage
    assert usage.prompt_image_tokens == 768  # the plan's tokens (SPEC §3), not the engine's own
    assert usage.prompt_text_tokens == len(tokens.pieces(QUESTION)) + tokens.TOKENS_PER_MESSAGE
    assert usage.completion_tokens == len(tokens.pieces(text)) == sum(1 for d in answer.deltas if d.text)


async def test_stop_sequence_cuts_the_answer(engine: LiteEngine) -> None:
    answer = await ask(engine, QUESTION, SIGN, params=GenerationParams(stop=["Staff"]))
    assert "NO ENTRY" in answer.text() and "Staff" not in answer.text()
    assert answer.finish() is FinishReason.STOP


async def test_max_tokens_stops_with_length(engine: LiteEngine) -> None:
    answer = await ask(engine, QUESTION, SIGN, params=GenerationParams(max_tokens=3))
    assert answer.finish() is FinishReason.LENGTH
    assert answer.usage.completion_tokens == 3 == len(tokens.pieces(answer.text()))


async def test_n_choices_each_finish_and_usage_sums(engine: LiteEngine) -> None:
    answer = await ask(engine, QUESTION, SIGN, params=GenerationParams(n=2))
    assert answer.text(0) == answer.text(1) and "NO ENTRY" in answer.text(1)
    assert answer.finish(0) is FinishReason.STOP and answer.finish(1) is FinishReason.STOP
    assert answer.usage.completion_tokens == 2 * len(tokens.pieces(answer.text(0)))


async def test_closing_the_stream_early_stops_it(engine: LiteEngine) -> None:
    stream = engine.generate(request(QUESTION, [prepared(0, SIGN)]))
    assert (await anext(stream)).usage is not None  # the prompt counts
    assert (await anext(stream)).text
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_cancelling_during_analysis_frees_the_request(engine: LiteEngine) -> None:
    fresh = render_sign([("CANCEL ME", 60)], size=(1400, 900))  # not cached: analysis takes a while
    task = asyncio.create_task(collect(engine.generate(request(QUESTION, [prepared(0, fresh)]))))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The engine keeps serving.
    assert "NO ENTRY" in (await ask(engine, QUESTION, SIGN)).text()


async def test_concurrent_requests_run_side_by_side(engine: LiteEngine) -> None:
    words = ["NORTH GATE", "SOUTH GATE", "WEST GATE"]
    signs = [render_sign([(w, 56)], size=(560, 160)) for w in words]
    answers = await asyncio.gather(*(ask(engine, QUESTION, s) for s in signs))
    for word, answer in zip(words, answers, strict=True):
        assert word in answer.text(), answer.text()


async def test_bad_inputs_raise_typed_errors(engine: LiteEngine) -> None:
    with pytest.raises(InvalidRequest, match="n must be"):
        await ask(engine, QUESTION, SIGN, params=GenerationParams(n=0))
    # (max_tokens beyond the context: the pipeline's one rule, tests/adversarial/test_adversarial_params.py)
    broken = prepared(3, SIGN, b"\x89PNG\r\n\x1a\n truncated")
    broken.image = None
    with pytest.raises(ImageDecodeError, match="Image 3"):
        await collect(engine.generate(request(QUESTION, [broken])))


def test_tokenizer_round_trips_and_counts_words_and_marks(engine: LiteEngine) -> None:
    text = 'It says: "NO ENTRY".\n  Done'
    toks = engine.tokenize(text)
    assert "".join(t.text for t in toks) == text
    assert [t.text.strip() for t in toks] == ["It", "says", ":", '"', "NO", "ENTRY", '"', ".", "Done"]
    assert toks[0].id == engine.tokenize("It")[0].id  # stable ids


def test_blank_image_plan_still_counts(engine: LiteEngine) -> None:
    assert prepared(0, Image.new("RGB", (10, 10))).plan.image_tokens == 256
