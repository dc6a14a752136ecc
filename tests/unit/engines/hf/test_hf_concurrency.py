"""Concurrency of the transformers engine: batching without cross-talk, cancel frees the slot."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from PIL import Image

from oculi.domain import Conversation, Detail, FinishReason, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest


def _request(engine, prepare_image, seed: int, question: str, max_tokens: int) -> EngineRequest:
    rng = np.random.RandomState(seed)
    image = Image.fromarray((rng.rand(320, 480, 3) * 255).astype("uint8"))
    prepared = prepare_image(image, Detail.LOW, engine.pixel_spec)
    conversation = Conversation([Message(Role.USER, [ImagePart("data:", Detail.LOW), TextPart(question)])])
    return EngineRequest(f"c{seed}", conversation, [prepared], GenerationParams(max_tokens=max_tokens, temperature=0))


async def _until(condition) -> None:
    """Wait (up to 30 s) until ``condition()`` holds (the scheduler runs on its own thread)."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


QUESTIONS = ["What is this?", "Count the objects in the picture please.", "Colour?", "Describe the scene in detail."]


async def test_concurrent_requests_get_their_own_outputs_and_finish_sooner(internvl_engine, prepare_image, collect):
    requests = [_request(internvl_engine, prepare_image, i, QUESTIONS[i % 4], 48 + 4 * i) for i in range(6)]
    await collect(internvl_engine, requests[0])  # warm-up
    started = time.perf_counter()
    alone = [await collect(internvl_engine, r) for r in requests]
    sequential = time.perf_counter() - started

    started = time.perf_counter()
    together = await asyncio.gather(*(collect(internvl_engine, r) for r in requests))
    concurrent = time.perf_counter() - started

    assert len({a.text for a in alone}) == len(requests), "each request should have its own answer"
    for a, t in zip(alone, together, strict=True):
        assert t.text == a.text
        assert t.usage == a.usage
        assert t.finish == a.finish
    print(f"6 requests: one by one {sequential:.2f}s, batched {concurrent:.2f}s")
    assert concurrent < sequential, f"batched {concurrent:.2f}s is not faster than one by one {sequential:.2f}s"


@pytest.fixture
async def single_seat_engine(tiny_internvl):
    from oculi.engines import hf
    from oculi.settings import Settings

    engine = hf.load(str(tiny_internvl), Settings(max_batch_size=1, offline=True))
    yield engine
    await engine.close()


async def test_cancel_mid_stream_frees_the_slot(single_seat_engine, prepare_image, collect):
    engine = single_seat_engine
    long = _request(engine, prepare_image, 1, "Tell me everything.", 4000)
    stream = engine.generate(long)
    first = await anext(stream)
    assert first.finish_reason is None
    await _until(lambda: engine.scheduler.running == 1)  # the first delta is sent just before it joins the batch
    await stream.aclose()  # the client went away

    # With one seat, the next request can only complete if the cancelled one left the batch.
    follow = await asyncio.wait_for(collect(engine, _request(engine, prepare_image, 2, "Colour?", 5)), timeout=60)
    assert follow.finish == {0: FinishReason.LENGTH}
    await _until(lambda: engine.scheduler.running == 0)


async def test_cancelled_task_drops_its_sequence(internvl_engine, prepare_image, collect):
    long = _request(internvl_engine, prepare_image, 4, "Keep going.", 4000)

    streaming = asyncio.Event()

    async def consume() -> None:
        async for _ in internvl_engine.generate(long):
            streaming.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(streaming.wait(), timeout=60)
    await _until(lambda: internvl_engine.scheduler.running == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until(lambda: internvl_engine.scheduler.running == 0)
