"""Parity of the transformers engine with the plain transformers reference path.

Reference = the checkpoint's own processor (``apply_chat_template`` with the
image, ``crop_to_patches`` for ``high``) + ``model.generate`` greedy. Ours =
SPEC §3 tiles from intake's tiler, our placeholder expansion, our batching
scheduler. Same prompt ids and the same greedy text prove the tiling, template
and token placement right.

Where pixels differ and why: both resize with PIL bicubic from the same RGB
image; the reference rescales/normalises in float64 then casts, ours in one
float32 pass, so values differ by float rounding only (< 1e-5 here).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from oculi.domain import Conversation, Detail, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.engines.common.checkpoint import load_processor

QUESTION = "What is in this image? Describe it."


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(height, width, 3) * 255).astype("uint8"))


@pytest.fixture(scope="module")
def reference(tiny_internvl):
    from transformers import AutoImageProcessor, AutoModelForImageTextToText

    processor = load_processor(tiny_internvl)
    # The PIL image processor, also where torchvision is installed (vLLM needs it): transformers would
    # otherwise pick its torchvision backend, whose bicubic resize differs from PIL's by ~1 grey level.
    processor.image_processor = AutoImageProcessor.from_pretrained(tiny_internvl, backend="pil")
    model = AutoModelForImageTextToText.from_pretrained(tiny_internvl).eval()
    return processor, model


@pytest.mark.parametrize(
    ("size", "detail", "views"),
    [((896, 448), Detail.HIGH, 3), ((1000, 700), Detail.HIGH, 7), ((300, 200), Detail.LOW, 1)],
)
async def test_prompt_ids_pixels_and_greedy_output_match_reference(
    internvl_engine, reference, prepare_image, collect, size, detail, views
):
    processor, model = reference
    image = _image(*size)
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": QUESTION}]}]
    image_kwargs = {"crop_to_patches": detail is Detail.HIGH, "max_patches": 6}
    ref = processor.apply_chat_template(
        messages,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        processor_kwargs=image_kwargs,
    )
    with torch.inference_mode():
        ref_out = model.generate(**ref, max_new_tokens=12, do_sample=False)
    ref_tokens = ref_out[0, ref["input_ids"].shape[1] :].tolist()
    ref_text = processor.decode(ref_tokens, skip_special_tokens=True)

    prepared = prepare_image(image, detail, internvl_engine.pixel_spec)
    conversation = Conversation([Message(Role.USER, [ImagePart("data:", detail), TextPart(QUESTION)])])
    request = EngineRequest("parity", conversation, [prepared], GenerationParams(max_tokens=12, temperature=0))

    prompt = internvl_engine.build_prompt(request)
    assert prompt.input_ids.tolist() == ref["input_ids"].tolist()
    assert prepared.plan.views == views == ref["pixel_values"].shape[0]
    pixel_diff = (prompt.pixel_values() - ref["pixel_values"]).abs().max().item()
    assert pixel_diff < 1e-4

    result = await collect(internvl_engine, request)
    assert result.text == ref_text
    assert result.usage.completion_tokens == len(ref_tokens)
    assert result.usage.prompt_image_tokens == views * 256
    assert result.usage.prompt_tokens == ref["input_ids"].shape[1]
