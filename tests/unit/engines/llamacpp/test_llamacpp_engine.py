"""The llama.cpp engine on tiny GGUF fixtures: usage, streaming, stop, limits, cancellation, batching, reuse.

Skipped (with the reason) when the optional llama-cpp-python extra is not
installed; ``scripts/build_llamacpp.sh`` installs it.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from gguf_fixtures import LLAMACPP, load_gguf
from PIL import Image
from spec_oracle import expected_image_tokens as spec_tokens

from oculi.domain import Conversation, Detail, FinishReason, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import Engine, EngineRequest
from oculi.errors import ContextLengthExceeded, InvalidRequest
from oculi.settings import Settings

pytestmark = LLAMACPP
SLOTS = 4


def _settings(**extra) -> Settings:
    return Settings(max_batch_size=SLOTS, llamacpp_context=4096, threads=1, offline=True, **extra)


@pytest.fixture(scope="module")
def gguf_internvl():
    engine = load_gguf("tiny-internvl", _settings())
    yield engine
    engine.worker.close()


@pytest.fixture(scope="module")
def gguf_llava():
    engine = load_gguf("tiny-llava", _settings())
    yield engine
    engine.worker.close()


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(height, width, 3) * 255).astype("uint8"))


def _request(engine: Engine, prepare_image, sizes, text="Describe the image.", **params) -> EngineRequest:
    spec = engine.pixel_spec
    images = [prepare_image(_image(*s, seed=i), d, spec, index=i) for i, (s, d) in enumerate(sizes)]
    parts = [ImagePart("data:", d) for _, d in sizes] + [TextPart(text)]
    params.setdefault("temperature", 0)
    return EngineRequest("t", Conversation([Message(Role.USER, parts)]), images, GenerationParams(**params))


@pytest.mark.parametrize(
    ("size", "detail"),
    [
        ((448, 448), Detail.AUTO),
        ((449, 300), Detail.AUTO),
        ((1920, 1080), Detail.HIGH),
        ((300, 1800), Detail.HIGH),
        ((2000, 1000), Detail.LOW),
        ((64, 64), Detail.HIGH),
    ],
)
async def test_internvl_image_tokens_follow_spec(gguf_internvl, prepare_image, collect, size, detail):
    result = await collect(gguf_internvl, _request(gguf_internvl, prepare_image, [(size, detail)], max_tokens=1))
    assert result.usage.prompt_image_tokens == spec_tokens(*size, detail)
    assert result.usage.completion_tokens <= 1


async def test_several_images_and_text_tokens_match_the_transformers_engine(
    gguf_internvl, internvl_engine, prepare_image, collect
):
    sizes = [((900, 450), Detail.HIGH), ((200, 200), Detail.AUTO), ((640, 480), Detail.LOW)]
    usages = []
    for engine in (gguf_internvl, internvl_engine):
        usages.append((await collect(engine, _request(engine, prepare_image, sizes, max_tokens=1))).usage)
    gguf, hf = usages
    assert gguf.prompt_image_tokens == hf.prompt_image_tokens == sum(spec_tokens(*s, d) for s, d in sizes)
    assert gguf.prompt_text_tokens == hf.prompt_text_tokens


async def test_other_architecture_reports_what_mtmd_produced(gguf_llava, prepare_image, collect):
    request = _request(gguf_llava, prepare_image, [((640, 480), Detail.AUTO), ((100, 300), Detail.LOW)], max_tokens=3)
    result = await collect(gguf_llava, request)
    assert result.usage.prompt_image_tokens == 2 * 256  # CLIP 224 px / 14 px patches, one chunk per image
    assert result.usage.prompt_text_tokens > 0
    assert 1 <= result.usage.completion_tokens <= 3 or result.finish[0] is FinishReason.STOP


@pytest.fixture(params=["transformers", "llama.cpp"])
def engine(request):
    """The engine-independent contract runs on both engines."""
    return request.getfixturevalue("internvl_engine" if request.param == "transformers" else "gguf_internvl")


async def test_streaming_contract_and_max_tokens(engine, prepare_image, collect):
    result = await collect(engine, _request(engine, prepare_image, [((600, 400), Detail.HIGH)], max_tokens=5))
    assert result.finish[0] in (FinishReason.LENGTH, FinishReason.STOP)
    assert 1 <= result.usage.completion_tokens <= 5
    if result.finish[0] is FinishReason.LENGTH:
        assert result.usage.completion_tokens == 5
    assert result.deltas[-1].usage is result.usage


async def test_seed_reproduces_sampling(engine, prepare_image, collect):
    def request():
        return _request(engine, prepare_image, [((300, 300), Detail.LOW)], max_tokens=8, temperature=1.0, seed=7)

    first = await collect(engine, request())
    second = await collect(engine, request())
    assert first.texts == second.texts


async def test_several_choices(engine, prepare_image, collect):
    result = await collect(
        engine, _request(engine, prepare_image, [((300, 300), Detail.LOW)], max_tokens=4, temperature=1.0, seed=1, n=3)
    )
    assert sorted(result.finish) == [0, 1, 2]
    assert result.usage.prompt_image_tokens == 256  # prompt counted once
    assert result.usage.completion_tokens <= 12


async def test_context_length_is_checked_before_the_first_delta(engine, prepare_image):
    # five 3×2-tile images: 5 · 1792 image tokens, more than either engine's context
    request = _request(engine, prepare_image, [((1344, 896), Detail.HIGH)] * 5, max_tokens=10)
    stream = engine.generate(request)
    with pytest.raises(ContextLengthExceeded) as info:
        await stream.__anext__()
    assert str(engine.info.context_length) in info.value.message


async def test_stop_sequence_ends_the_choice_without_emitting_it(gguf_internvl, prepare_image, collect):
    free = await collect(
        gguf_internvl, _request(gguf_internvl, prepare_image, [((300, 300), Detail.LOW)], max_tokens=12)
    )
    text = free.text
    if len(text) < 4:
        pytest.skip(f"the random model stopped too early to test stop sequences ({text!r})")
    stop = text[2:4]
    stopped = await collect(
        gguf_internvl, _request(gguf_internvl, prepare_image, [((300, 300), Detail.LOW)], max_tokens=12, stop=[stop])
    )
    assert stopped.finish[0] is FinishReason.STOP
    assert stopped.text == text[: text.index(stop)]
    assert stop not in stopped.text


async def test_cancellation_frees_the_slot(gguf_internvl, prepare_image, collect):
    request = _request(gguf_internvl, prepare_image, [((300, 300), Detail.LOW)], max_tokens=3000, temperature=1.0)
    for _ in range(SLOTS):  # more cancellations than slots: a leaked slot would block the next request forever
        stream = gguf_internvl.generate(request)
        async for _delta in stream:
            break
        await stream.aclose()
    full = _request(gguf_internvl, prepare_image, [((300, 300), Detail.LOW)], max_tokens=2, n=SLOTS, temperature=1.0)
    result = await asyncio.wait_for(collect(gguf_internvl, full), timeout=60)
    assert sorted(result.finish) == list(range(SLOTS))


async def test_concurrent_requests_are_decoded_together(gguf_internvl, prepare_image, collect):
    requests = [
        _request(
            gguf_internvl, prepare_image, [((300 + 10 * i, 300), Detail.LOW)], max_tokens=16, temperature=1.0, seed=i
        )
        for i in range(SLOTS)
    ]
    before = gguf_internvl.worker.peak_running
    results = await asyncio.gather(*(collect(gguf_internvl, r) for r in requests))
    assert all(r.usage.prompt_image_tokens == 256 for r in results)
    assert gguf_internvl.worker.peak_running >= 2 or before >= 2


async def test_continued_conversation_reuses_kv_and_does_not_reencode_the_image(gguf_internvl, prepare_image, collect):
    spec = gguf_internvl.pixel_spec
    image = prepare_image(_image(1000, 700, seed=42), Detail.HIGH, spec)
    turn1 = Conversation([Message(Role.USER, [ImagePart("data:", Detail.HIGH), TextPart("What is this?")])])
    first = await collect(
        gguf_internvl, EngineRequest("a", turn1, [image], GenerationParams(max_tokens=4, temperature=0))
    )
    misses = gguf_internvl.worker.cache.misses
    turn2 = turn1 + Conversation(
        [Message(Role.ASSISTANT, [TextPart(first.text)]), Message(Role.USER, [TextPart("And the colours?")])]
    )
    second = await collect(
        gguf_internvl, EngineRequest("b", turn2, [image], GenerationParams(max_tokens=4, temperature=0))
    )
    assert second.usage.prompt_image_tokens == first.usage.prompt_image_tokens == spec_tokens(1000, 700, Detail.HIGH)
    assert second.usage.cached_prompt_tokens >= first.usage.prompt_image_tokens
    assert gguf_internvl.worker.cache.misses == misses  # no view went through the vision encoder again


def test_tokenize_round_trips_text(gguf_internvl):
    tokens = gguf_internvl.tokenize("The quick brown fox")
    assert tokens and "".join(t.text for t in tokens) == "The quick brown fox"
    assert isinstance(gguf_internvl, Engine)
    assert gguf_internvl.info.context_length == 4096


async def test_bad_parameters_are_typed_errors(gguf_internvl, prepare_image):
    for params, field in (({"n": SLOTS + 1}, "n"), ({"max_tokens": 0}, "max_tokens")):
        with pytest.raises(InvalidRequest) as info:
            async for _ in gguf_internvl.generate(_request(gguf_internvl, prepare_image, [], **params)):
                pass
        assert info.value.param == field


async def test_concurrent_questions_about_one_image_share_its_kv(gguf_internvl, prepare_image, collect):
    spec = gguf_internvl.pixel_spec
    image = prepare_image(_image(900, 450, seed=77), Detail.HIGH, spec)
    questions = ["What is it?", "Which colours are there?", "Is there text?"]
    requests = [
        EngineRequest(
            f"c{i}",
            Conversation([Message(Role.USER, [ImagePart("data:", Detail.HIGH), TextPart(q)])]),
            [image],
            GenerationParams(max_tokens=8, temperature=0),
        )
        for i, q in enumerate(questions)
    ]
    results = await asyncio.gather(*(collect(gguf_internvl, r) for r in requests))
    tokens = spec_tokens(900, 450, Detail.HIGH)
    assert all(r.usage.prompt_image_tokens == tokens for r in results)
    # the first evaluates the image; the others start from a copy of its KV stream
    assert sorted(r.usage.cached_prompt_tokens >= tokens for r in results) == [False, True, True]


async def test_a_request_arriving_during_a_many_tile_image_starts_after_the_tile_in_hand(
    gguf_internvl, prepare_image, monkeypatch
):
    """A prompt is read one image chunk per worker step: B, sent while A's second tile is being read,
    is read (and answers) before A's remaining tiles, instead of waiting for A's whole image."""
    import threading

    worker = gguf_internvl.worker
    submitted, calls = threading.Semaphore(0), []
    submit, decode_image = worker.submit, worker.native.decode_image

    def counting_submit(job):
        submit(job)
        submitted.release()

    def held_decode_image(seq_id, chunk, n_past):
        calls.append(chunk.key)
        if len(calls) == 2:  # A's second tile: hold the worker here until B is queued
            assert submitted.acquire(timeout=30), "B was never submitted"
        return decode_image(seq_id, chunk, n_past)

    monkeypatch.setattr(worker, "submit", counting_submit)
    monkeypatch.setattr(worker.native, "decode_image", held_decode_image)
    a = _request(gguf_internvl, prepare_image, [((1920, 1080), Detail.HIGH)], max_tokens=2)
    b = _request(gguf_internvl, prepare_image, [((448, 448), Detail.LOW)], max_tokens=2)
    # pixels no earlier test sent (no slot holds them in KV, the embedding cache has none of their tiles)
    a.images[0] = prepare_image(_image(1920, 1080, seed=4242), Detail.HIGH, gguf_internvl.pixel_spec)
    b.images[0] = prepare_image(_image(448, 448, seed=4243), Detail.LOW, gguf_internvl.pixel_spec)
    order: list[str] = []

    async def first_token(name: str, request: EngineRequest) -> None:
        async for delta in gguf_internvl.generate(request):
            if (delta.text or delta.finish_reason) and name not in order:
                order.append(name)

    task_a = asyncio.create_task(first_token("A", a))
    assert await asyncio.to_thread(submitted.acquire, timeout=30)  # A is queued (and being read) first
    await asyncio.gather(task_a, first_token("B", b))
    assert len([k for k in calls if k.startswith(a.images[0].sha256)]) == 3  # 2 tiles + thumbnail
    assert order == ["B", "A"]


async def test_answers_from_reused_kv_equal_answers_computed_from_scratch(gguf_internvl, prepare_image, collect):

    spec = gguf_internvl.pixel_spec
    image = prepare_image(_image(700, 500, seed=5), Detail.HIGH, spec)

    def request(question: str) -> EngineRequest:
        conversation = Conversation([Message(Role.USER, [ImagePart("data:", Detail.HIGH), TextPart(question)])])
        return EngineRequest("r", conversation, [image], GenerationParams(max_tokens=12, temperature=0))

    questions = ["Describe the image.", "What colours?", "Any text?"]
    shared = await asyncio.gather(*(collect(gguf_internvl, request(q)) for q in questions))
    assert sum(r.usage.completion_tokens for r in shared) >= 6  # something to compare
    for question, reused in zip(questions, shared, strict=True):
        fresh_engine = load_gguf("tiny-internvl", _settings())
        try:
            fresh = await collect(fresh_engine, request(question))
        finally:
            fresh_engine.worker.close()
        assert fresh.usage.cached_prompt_tokens == 0
        assert reused.text == fresh.text
