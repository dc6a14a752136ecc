"""The second family (LLaVA): loaded through the same code, answers with an image via its own processor."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from oculi.domain import Conversation, Detail, FinishReason, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.engines.common.checkpoint import load_processor


@pytest.fixture(scope="module")
def llava_engine(tiny_llava):
    from oculi.engines import hf
    from oculi.settings import Settings

    engine = hf.load(str(tiny_llava), Settings(max_batch_size=4, offline=True))
    yield engine
    engine.scheduler.close()


async def test_llava_answers_with_images_and_reports_processor_tokens(llava_engine, tiny_llava, prepare_image, collect):
    import torch
    from transformers import AutoModelForImageTextToText

    assert llava_engine.info.architecture == "LlavaForConditionalGeneration"
    spec = llava_engine.pixel_spec
    assert not spec.tiles and spec.full_image_max_side
    rng = np.random.RandomState(0)
    images = [Image.fromarray((rng.rand(h, w, 3) * 255).astype("uint8")) for w, h in [(500, 300), (200, 260)]]
    prepared = [prepare_image(img, Detail.AUTO, spec, index=i) for i, img in enumerate(images)]
    conversation = Conversation(
        [Message(Role.USER, [ImagePart("data:"), TextPart("Compare"), ImagePart("data:"), TextPart("these.")])]
    )
    result = await collect(
        llava_engine, EngineRequest("l", conversation, prepared, GenerationParams(max_tokens=8, temperature=0))
    )
    assert result.finish == {0: FinishReason.LENGTH}
    assert result.usage.prompt_image_tokens == 2 * 256  # what LlavaProcessor produced: (224/14)² per image
    assert result.text

    # Same as the reference path: the checkpoint's processor + model.generate.
    processor = load_processor(tiny_llava)
    model = AutoModelForImageTextToText.from_pretrained(tiny_llava).eval()
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": images[0]},
                {"type": "text", "text": "Compare"},
                {"type": "image", "image": images[1]},
                {"type": "text", "text": "these."},
            ],
        }
    ]
    ref = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    with torch.inference_mode():
        out = model.generate(**ref, max_new_tokens=8, do_sample=False)
    assert result.text == processor.decode(out[0, ref["input_ids"].shape[1] :], skip_special_tokens=True)
    assert result.usage.prompt_tokens == ref["input_ids"].shape[1]
