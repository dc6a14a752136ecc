"""Image encodings are reused for an image sent again (e.g. in a continued conversation)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from oculi.domain import Conversation, Detail, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest


async def test_an_image_sent_again_is_not_re_encoded_and_answers_stay_the_same(internvl_engine, prepare_image, collect):
    rng = np.random.RandomState(11)
    image = prepare_image(
        Image.fromarray((rng.rand(500, 900, 3) * 255).astype("uint8")), Detail.HIGH, internvl_engine.pixel_spec
    )
    first_turn = [Message(Role.USER, [ImagePart("data:", Detail.HIGH), TextPart("What is it?")])]
    params = GenerationParams(max_tokens=6, temperature=0)
    encoder = internvl_engine.encoder
    misses = encoder.misses

    first = await collect(internvl_engine, EngineRequest("a", Conversation(first_turn), [image], params))
    assert encoder.misses == misses + 1
    hits = encoder.hits
    again = await collect(internvl_engine, EngineRequest("b", Conversation(first_turn), [image], params))
    assert encoder.hits == hits + 1 and encoder.misses == misses + 1
    assert again.text == first.text and again.usage == first.usage

    # The next turn of the conversation carries the same image again: still no new encoding for it.
    second_turn = [
        *first_turn,
        Message(Role.ASSISTANT, [TextPart(first.text)]),
        Message(Role.USER, [TextPart("And its colour?")]),
    ]
    follow = await collect(internvl_engine, EngineRequest("c", Conversation(second_turn), [image], params))
    assert encoder.misses == misses + 1
    assert follow.usage.prompt_image_tokens == first.usage.prompt_image_tokens
