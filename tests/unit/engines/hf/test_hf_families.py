"""The view families on the transformers engine: SPEC §3 exact, and equal to plain transformers.

Every family of ``oculi.families`` but InternVL (``test_hf_usage`` and
``test_hf_parity`` cover it): Qwen2.5-VL, Qwen3-VL, Qwen3.5 (hybrid: linear-
attention states batched beside the KV layers), GLM-4.1V and GLM-4.5V (mixture of experts), Gemma 3 and Gemma 4
(a sliding and a full layer with different head sizes, proportional rotary,
per-layer input embeddings, bidirectional attention over each view's tokens,
its tower fed flat patches).

Reference = the family's own processor on the *same rendered images* (oculi's
views at the family's view size as uint8 pictures: Qwen's grid image and
thumbnail, Gemma 3's and Gemma 4's views), with the checkpoint's chat template writing one
image per model image, then ``model.generate`` greedy. Ours = intake's
normalised views, our placeholder expansion, our patching (Qwen), our
multimodal rotary positions and our batching scheduler.

Bounds: the processor rescales and normalises in two float32 steps, ours in
one fused step, so pixel values differ by float rounding only (≤ 1e-5; Gemma
4's processor pads each view's patches to its budget's 2 520, which are
compared up to the view's 2 304); the prompt ids and the greedy tokens are equal.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from servers import FAMILY_CHECKPOINTS
from spec_oracle import expected_image_tokens

from oculi.domain import Conversation, Detail, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.engines.hf.vision import patchify
from oculi.intake.tiling import render_grid, render_views
from oculi.intake.types import ViewLayout

QUESTION = "What is in this image? Describe it."
VIEW_SIZES = {"qwen2_5_vl": 448, "qwen3_vl": 512, "qwen3_5": 512, "glm4v": 448, "gemma3": 896, "gemma4": 768}


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(height, width, 3) * 255).astype("uint8"))


@pytest.fixture(scope="module", params=[*FAMILY_CHECKPOINTS, "tiny-glm4v_moe"])
def family_checkpoint(request) -> Path:
    """The suite's family checkpoints and, here only, GLM-4.5V's mixture-of-experts form (``glm4v_moe``)."""
    from oculi.testing.checkpoints import cached_checkpoint

    return cached_checkpoint(request.param)


@pytest.fixture(scope="module")
def family_engine(family_checkpoint):
    from oculi.engines import hf
    from oculi.settings import Settings

    engine = hf.load(str(family_checkpoint), Settings(max_batch_size=8, offline=True))
    yield engine
    engine.scheduler.close()


def _request(prepared, detail: Detail, max_tokens: int = 10, text: str = QUESTION) -> EngineRequest:
    conversation = Conversation([Message(Role.USER, [ImagePart("data:", detail), TextPart(text)])])
    return EngineRequest("family", conversation, [prepared], GenerationParams(max_tokens=max_tokens, temperature=0))


def _reference_inputs(engine, image: Image.Image, plan) -> dict:
    """The family's processor on oculi's rendered views (uint8 pictures at the view size)."""
    spec = replace(engine.pixel_spec, normalise=False)
    arrays = render_grid(image, plan, spec) if spec.layout is ViewLayout.GRID else list(render_views(image, plan, spec))
    pictures = [Image.fromarray(np.asarray(a)) for a in arrays]
    content = [{"type": "image"} for _ in pictures] + [{"type": "text", "text": QUESTION}]
    switch = engine.thinking.switch(None) if engine.thinking is not None else {}  # the engine's default request
    text = engine.processor.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False, **switch
    )
    return engine.processor(text=[text], images=pictures, return_tensors="pt", add_special_tokens=False)


def _our_pixels(engine, prompt) -> torch.Tensor:
    if engine.pixel_spec.layout is ViewLayout.GRID:
        vision = engine.model.config.vision_config
        return torch.cat(
            [
                patchify(p, vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size)
                for image in prompt.images
                for p in image.pixels
            ]
        )
    views = torch.cat([image.pixels[0] for image in prompt.images])
    tower_inputs = engine.family.tower_inputs
    return views if tower_inputs is None else tower_inputs(views, engine.model.config)["pixel_values"]


def _their_pixels(ref) -> torch.Tensor:
    pixels = ref["pixel_values"]
    if "image_position_ids" in ref:  # Gemma 4: each view's patches, padded to the budget; compare the real ones
        real = int((ref["image_position_ids"][0] >= 0).all(dim=-1).sum())
        return pixels[:, :real]
    return pixels


def test_family_and_view_size(family_engine):
    family = family_engine.family
    assert family is not None and family_engine.pixel_spec.view_size == VIEW_SIZES[family.name]


@pytest.mark.parametrize(
    ("size", "detail"),
    [((1000, 700), Detail.HIGH), ((300, 200), Detail.LOW), ((1, 1), Detail.HIGH), ((1500, 40), Detail.AUTO)],
)
async def test_prompt_pixels_and_greedy_tokens_match_the_family_processor(
    family_engine, prepare_image, collect, size, detail
):
    image = _image(*size)
    prepared = prepare_image(image, detail, family_engine.pixel_spec)
    request = _request(prepared, detail)
    prompt = family_engine.build_prompt(request)
    ref = _reference_inputs(family_engine, image, prepared.plan)

    assert prompt.input_ids.tolist() == ref["input_ids"].tolist()
    assert prompt.image_tokens == prepared.plan.image_tokens == expected_image_tokens(*size, detail.value)
    assert (_our_pixels(family_engine, prompt) - _their_pixels(ref)).abs().max().item() <= 1e-5

    with torch.inference_mode():
        out = family_engine.model.generate(**ref, max_new_tokens=10, do_sample=False)
    ref_tokens = out[0, ref["input_ids"].shape[1] :].tolist()
    result = await collect(family_engine, request)
    assert result.text == family_engine.tokenizer.decode(ref_tokens, skip_special_tokens=True)
    assert result.usage.prompt_image_tokens == prepared.plan.image_tokens
    assert result.usage.prompt_tokens == ref["input_ids"].shape[1]


async def test_concurrent_mixed_requests_equal_their_solo_answers(family_engine, prepare_image, collect):
    """Eight requests of different images, details and lengths, batched together, answer as they do alone.

    Qwen's rotary positions run ahead of the cache index by a per-request offset; Gemma 3's sliding
    window spans the batch's left padding; Qwen3.5's linear-attention states are stacked, joined and
    dropped as sequences of different lengths join and leave mid-decode: any cross-talk, padding in a
    state or misplaced position changes greedy tokens.
    """
    cases = [((900, 600), Detail.HIGH), ((300, 900), Detail.HIGH), ((200, 200), Detail.LOW), ((1, 700), Detail.AUTO)]
    requests = []
    for i in range(8):
        size, detail = cases[i % len(cases)]
        prepared = prepare_image(_image(*size, seed=i), detail, family_engine.pixel_spec)
        requests.append(_request(prepared, detail, max_tokens=6 + i, text=QUESTION + " " + "Answer. " * i))
    solo = [await collect(family_engine, r) for r in requests]
    together = await asyncio.gather(*(collect(family_engine, r) for r in requests))
    assert [r.text for r in together] == [r.text for r in solo]
    assert [r.usage.prompt_image_tokens for r in together] == [r.images[0].plan.image_tokens for r in requests]


async def test_a_repeated_image_is_encoded_once(family_engine, prepare_image, collect):
    encoder = family_engine.encoder
    prepared = prepare_image(_image(640, 480, seed=42), Detail.HIGH, family_engine.pixel_spec)
    first = await collect(family_engine, _request(prepared, Detail.HIGH))
    misses = encoder.misses
    again = await collect(family_engine, _request(prepared, Detail.HIGH))
    assert encoder.misses == misses and again.text == first.text
