"""Usage of the transformers engine: image tokens equal SPEC §3 for InternVL, text tokens are the rest."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from spec_oracle import expected_image_tokens as spec_tokens

from oculi.domain import Conversation, Detail, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(height, width, 3) * 255).astype("uint8"))


CASES = [
    ((448, 448), Detail.AUTO),
    ((449, 300), Detail.AUTO),
    ((1344, 448), Detail.HIGH),
    ((300, 1800), Detail.HIGH),
    ((2000, 1000), Detail.LOW),
    ((64, 64), Detail.HIGH),
    ((1500, 1100), Detail.AUTO),
]


@pytest.mark.parametrize(("size", "detail"), CASES)
async def test_single_image_tokens_follow_spec(internvl_engine, prepare_image, collect, size, detail):
    image = prepare_image(_image(*size), detail, internvl_engine.pixel_spec)
    conversation = Conversation([Message(Role.USER, [TextPart("Look:"), ImagePart("data:", detail)])])
    result = await collect(
        internvl_engine, EngineRequest("u", conversation, [image], GenerationParams(max_tokens=1, temperature=0))
    )
    assert result.usage.prompt_image_tokens == spec_tokens(*size, detail)
    prompt = internvl_engine.build_prompt(EngineRequest("u", conversation, [image]))
    assert result.usage.prompt_text_tokens == prompt.length - spec_tokens(*size, detail)
    assert result.usage.completion_tokens == 1


async def test_many_images_in_one_message_and_in_earlier_turns(internvl_engine, prepare_image, collect):
    spec = internvl_engine.pixel_spec
    sizes = [((900, 450), Detail.HIGH), ((200, 200), Detail.AUTO), ((1200, 400), Detail.AUTO), ((640, 480), Detail.LOW)]
    images = [prepare_image(_image(*s, seed=i), d, spec, index=i) for i, (s, d) in enumerate(sizes)]
    conversation = Conversation(
        [
            Message(Role.SYSTEM, [TextPart("You describe images.")]),
            Message(Role.USER, [ImagePart("data:", sizes[0][1]), TextPart("and"), ImagePart("data:", sizes[1][1])]),
            Message(Role.ASSISTANT, [TextPart("Two pictures.")]),
            Message(
                Role.USER, [TextPart("Now these:"), ImagePart("data:", sizes[2][1]), ImagePart("data:", sizes[3][1])]
            ),
        ]
    )
    request = EngineRequest("m", conversation, images, GenerationParams(max_tokens=2, temperature=0))
    result = await collect(internvl_engine, request)
    expected = sum(spec_tokens(*s, d) for s, d in sizes)
    assert result.usage.prompt_image_tokens == expected

    prompt = internvl_engine.build_prompt(request)
    ids = prompt.input_ids[0].tolist()
    tokenizer = internvl_engine.tokenizer
    start, end = tokenizer.convert_tokens_to_ids("<img>"), tokenizer.convert_tokens_to_ids("</img>")
    context = tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    # Each image is one <img> … </img> block holding exactly its SPEC count, in conversation order.
    blocks, i = [], 0
    while i < len(ids):
        if ids[i] == start:
            j = ids.index(end, i)
            assert set(ids[i + 1 : j]) == {context}
            blocks.append(j - i - 1)
            i = j
        i += 1
    assert blocks == [spec_tokens(*s, d) for s, d in sizes]
    assert ids.count(context) == expected
    assert result.usage.prompt_text_tokens == len(ids) - expected
    # The template text is in the prompt: system, both user turns and the assistant turn.
    text = tokenizer.decode([t for t in ids if t != context])
    assert "You describe images." in text and "Two pictures." in text and "Now these:" in text


async def test_text_only_request_has_no_image_tokens(internvl_engine, collect):
    conversation = Conversation([Message(Role.USER, [TextPart("Hello world!")])])
    result = await collect(
        internvl_engine, EngineRequest("t", conversation, [], GenerationParams(max_tokens=3, temperature=0))
    )
    assert result.usage.prompt_image_tokens == 0
    expected = internvl_engine.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello world!"}], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    assert result.usage.prompt_text_tokens == len(expected["input_ids"])
