"""Sampling behaviour of the transformers engine: seeds, stop sequences, max tokens, n, context length."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from oculi.domain import Conversation, Detail, FinishReason, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.errors import ContextLengthExceeded, InvalidRequest


@pytest.fixture(scope="module")
def image_request(internvl_engine, prepare_image):
    rng = np.random.RandomState(3)
    image = Image.fromarray((rng.rand(300, 400, 3) * 255).astype("uint8"))
    prepared = prepare_image(image, Detail.LOW, internvl_engine.pixel_spec)
    conversation = Conversation([Message(Role.USER, [ImagePart("data:", Detail.LOW), TextPart("Describe the chart.")])])

    def make(**params) -> EngineRequest:
        return EngineRequest("s", conversation, [prepared], GenerationParams(**params))

    return make


async def test_seeded_sampling_is_reproducible(internvl_engine, image_request, collect):
    params = {"max_tokens": 16, "temperature": 1.0, "top_p": 0.9, "seed": 1234}
    first = await collect(internvl_engine, image_request(**params))
    second = await collect(internvl_engine, image_request(**params))
    assert first.text == second.text
    assert first.usage.completion_tokens == second.usage.completion_tokens
    others = {(await collect(internvl_engine, image_request(**{**params, "seed": s}))).text for s in (1, 2, 3)}
    assert len(others | {first.text}) > 1, "different seeds should not all give the same text"


async def test_seeded_sampling_same_alone_and_batched(internvl_engine, image_request, collect):
    import asyncio

    params = {"max_tokens": 12, "temperature": 0.8, "seed": 77}
    alone = await collect(internvl_engine, image_request(**params))
    together = await asyncio.gather(
        collect(internvl_engine, image_request(**params)),
        collect(internvl_engine, image_request(max_tokens=20, temperature=1.0, seed=5)),
        collect(internvl_engine, image_request(max_tokens=7, temperature=0)),
    )
    assert together[0].text == alone.text


async def test_max_tokens_finishes_with_length(internvl_engine, image_request, collect):
    result = await collect(internvl_engine, image_request(max_tokens=5, temperature=0))
    assert result.finish == {0: FinishReason.LENGTH}
    assert result.usage.completion_tokens == 5


async def test_stop_sequence_cuts_text_and_finishes_with_stop(internvl_engine, image_request, collect):
    full = (await collect(internvl_engine, image_request(max_tokens=24, temperature=0))).text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    assert len(stop) == 3
    cut = full[: full.index(stop)]
    result = await collect(internvl_engine, image_request(max_tokens=24, temperature=0, stop=["\x00never", stop]))
    assert result.text == cut
    assert result.finish == {0: FinishReason.STOP}
    assert result.usage.completion_tokens < 24
    # No delta ever carried text past the cut (the held-back tail is never released).
    assert "".join(d.text for d in result.deltas) == cut


async def test_n_choices_each_finish_and_usage_counts_all(internvl_engine, image_request, collect):
    result = await collect(internvl_engine, image_request(max_tokens=6, temperature=1.0, seed=9, n=3))
    assert set(result.finish) == {0, 1, 2}
    assert all(r is FinishReason.LENGTH for r in result.finish.values())
    assert result.usage.completion_tokens == 18
    assert len(set(result.texts.values())) > 1, "seeded choices should differ from each other"
    again = await collect(internvl_engine, image_request(max_tokens=6, temperature=1.0, seed=9, n=3))
    assert again.texts == result.texts


async def test_prompt_over_context_is_rejected_before_any_delta(internvl_engine, prepare_image):
    long_text = "The quick brown fox jumps over the lazy dog. " * 1000
    conversation = Conversation([Message(Role.USER, [TextPart(long_text)])])
    stream = internvl_engine.generate(EngineRequest("long", conversation, [], GenerationParams(max_tokens=4)))
    with pytest.raises(ContextLengthExceeded) as info:
        await anext(stream)
    err = info.value
    assert err.context_length == internvl_engine.info.context_length == 8192
    assert err.prompt_tokens > 8192
    assert str(err.prompt_tokens) in err.message and "8192" in err.message
    assert err.status == 400


async def test_invalid_sampling_parameters_are_typed_errors(internvl_engine, image_request):
    for params, name in [({"n": 0}, "n"), ({"temperature": -1}, "temperature"), ({"top_p": 0}, "top_p")]:
        with pytest.raises(InvalidRequest) as info:
            await anext(internvl_engine.generate(image_request(**params)))
        assert info.value.param == name


def test_tokenize_round_trips(internvl_engine):
    tokens = internvl_engine.tokenize("Hello world! 42")
    assert "".join(t.text for t in tokens) == "Hello world! 42"
    assert all(isinstance(t.id, int) for t in tokens)
