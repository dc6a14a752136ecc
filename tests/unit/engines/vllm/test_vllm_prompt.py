"""The vLLM engine's prompt builders and engine arguments, in-process (vLLM is not started).

``engines.vllm.prompt`` turns a conversation and intake's images into what
``AsyncLLM.generate`` takes; these check the token ids, the images handed to
vLLM's processor (one per model image of the family, at the family's sizes),
their cache identities and the counts known before vLLM runs, with each
family's tiny checkpoint's real processor and tokenizer.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from oculi import families
from oculi.domain import Conversation, Detail, ImagePart, Message, Role, TextPart
from oculi.engines.vllm.args import engine_kwargs
from oculi.engines.vllm.prompt import ProcessorPrompter, TiledPrompter, ViewImagesPrompter, vllm_prompt
from oculi.intake.types import TOKENS_PER_TILE, PixelSpec
from oculi.settings import Settings


def _conversation(*details: Detail) -> Conversation:
    parts = [ImagePart("data:", d) for d in details]
    return Conversation([Message(Role.USER, [*parts, TextPart("What is in these images?")])])


def _picture(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(height, width, 3) * 255).astype("uint8"))


def _processor(name: str):
    from oculi.engines.common.checkpoint import load_processor
    from oculi.testing.checkpoints import cached_checkpoint

    return load_processor(cached_checkpoint(name))


GRID_FAMILIES = {
    "tiny-qwen2_5_vl": families.QWEN2_5_VL,
    "tiny-qwen3_vl": families.QWEN3_VL,
    "tiny-qwen3_5": families.QWEN3_5,
}


@pytest.mark.parametrize("name", sorted(GRID_FAMILIES))
def test_grid_family_hands_the_grid_image_and_the_thumbnail_with_known_counts(name, prepare_image):
    processor, family = _processor(name), GRID_FAMILIES[name]
    spec = family.pixel_spec((0.5,) * 3, (0.5,) * 3, normalise=False)  # type: ignore[arg-type]
    images = [
        prepare_image(_picture(1000, 700), Detail.HIGH, spec, index=0),
        prepare_image(_picture(3000, 2, seed=1), Detail.AUTO, spec, index=1),  # a hostile strip: views are whole
    ]
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    prompt = ViewImagesPrompter(processor, family, image_id).build(_conversation(Detail.HIGH, Detail.AUTO), images)

    s = family.view_size
    sizes = [p.size for p in prompt.prompt["multi_modal_data"]["image"]]
    expected_sizes = []
    for image in images:
        plan = image.plan
        expected_sizes.append((s, s) if plan.detail is Detail.LOW else (plan.cols * s, plan.rows * s))
        expected_sizes += [(s, s)] * plan.thumbnail
    assert sizes == expected_sizes
    ids = prompt.prompt["prompt_token_ids"]
    assert ids.count(image_id) == len(sizes)  # one placeholder per model image, expanded by vLLM
    views = sum(image.plan.views for image in images)
    assert prompt.image_tokens == views * TOKENS_PER_TILE
    assert prompt.length == len(ids) - len(sizes) + views * TOKENS_PER_TILE
    uuids = prompt.prompt["multi_modal_uuids"]["image"]
    assert uuids == prompt.uuids and len(set(uuids)) == len(sizes)
    assert all(u.startswith(images[0].sha256) for u in uuids[: len(family.model_images(images[0].plan))])


def test_gemma_hands_each_view_and_leaves_the_length_to_vllm(prepare_image):
    processor = _processor("tiny-gemma3")
    family = families.GEMMA3
    spec = family.pixel_spec((0.5,) * 3, (0.5,) * 3, normalise=False)  # type: ignore[arg-type]
    image = prepare_image(_picture(900, 450), Detail.HIGH, spec)
    token = processor.tokenizer.convert_tokens_to_ids("<image_soft_token>")
    prompt = ViewImagesPrompter(processor, family, token).build(_conversation(Detail.HIGH), [image])
    pictures = prompt.prompt["multi_modal_data"]["image"]
    assert len(pictures) == image.plan.views == 3 and all(p.size == (896, 896) for p in pictures)
    assert prompt.prompt["prompt_token_ids"].count(processor.tokenizer.convert_tokens_to_ids("<start_of_image>")) == 3
    assert prompt.image_tokens == 3 * TOKENS_PER_TILE
    assert prompt.length is None  # the processor's newlines merge with the text around them: vLLM counts


def test_gemma4_hands_each_view_wrapped_without_newlines_with_known_counts(prepare_image):
    processor = _processor("tiny-gemma4")
    family = families.GEMMA4
    spec = family.pixel_spec((0.0,) * 3, (1.0,) * 3, normalise=False)  # type: ignore[arg-type]
    image = prepare_image(_picture(900, 450), Detail.HIGH, spec)
    token = processor.tokenizer.convert_tokens_to_ids("<|image|>")
    prompt = ViewImagesPrompter(processor, family, token).build(_conversation(Detail.HIGH), [image])
    pictures = prompt.prompt["multi_modal_data"]["image"]
    assert len(pictures) == image.plan.views == 3 and all(p.size == (768, 768) for p in pictures)
    ids = prompt.prompt["prompt_token_ids"]
    assert ids.count(token) == 3  # one placeholder a view; vLLM's processor expands each to <|image> + 256 + <image|>
    assert prompt.image_tokens == 3 * TOKENS_PER_TILE
    assert families.GEMMA4.vllm_processor_kwargs() == {"max_soft_tokens": 280}


def test_the_same_bytes_at_another_detail_are_other_images(prepare_image):
    processor = _processor("tiny-qwen3_vl")
    family = families.QWEN3_VL
    spec = family.pixel_spec((0.5,) * 3, (0.5,) * 3, normalise=False)  # type: ignore[arg-type]
    picture = _picture(1000, 700)
    prompter = ViewImagesPrompter(processor, family, processor.tokenizer.convert_tokens_to_ids("<|image_pad|>"))
    high = prompter.build(_conversation(Detail.HIGH), [prepare_image(picture, Detail.HIGH, spec)])
    low = prompter.build(_conversation(Detail.LOW), [prepare_image(picture, Detail.LOW, spec)])
    assert high.uuids[0].split(":")[0] == low.uuids[0].split(":")[0]  # the same content hash
    assert not set(high.uuids) & set(low.uuids)


def test_a_model_outside_the_families_gets_the_decoded_images(prepare_image):
    processor = _processor("tiny-llava")
    image = prepare_image(_picture(640, 480), Detail.AUTO, PixelSpec(tiles=False, full_image_max_side=2048))
    prompt = ProcessorPrompter(processor).build(_conversation(Detail.AUTO), [image])
    assert prompt.prompt["multi_modal_data"]["image"] == [image.image]
    assert prompt.length is None and prompt.image_tokens is None
    with pytest.raises(ValueError, match="not prepared as a decoded image"):
        ProcessorPrompter(processor).build(_conversation(Detail.AUTO), [dataclasses.replace(image, image=None)])


def test_internvl_hands_its_views_as_one_stack_with_counts(prepare_image):
    pytest.importorskip("vllm")
    from transformers import AutoConfig

    from oculi.testing.checkpoints import cached_checkpoint

    path = cached_checkpoint("tiny-internvl")
    processor, config = _processor("tiny-internvl"), AutoConfig.from_pretrained(path)
    spec = families.INTERNVL.pixel_spec((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    image = prepare_image(_picture(1000, 700), Detail.HIGH, spec)
    prompt = TiledPrompter(processor, config, TOKENS_PER_TILE).build(_conversation(Detail.HIGH), [image])
    (stack,) = prompt.prompt["multi_modal_data"]["image"]
    assert tuple(stack.pixels.shape) == (image.plan.views, 3, 448, 448)
    ids = prompt.prompt["prompt_token_ids"]
    assert ids.count(config.image_token_id) == 1
    assert prompt.image_tokens == image.plan.views * TOKENS_PER_TILE
    assert prompt.length == len(ids) - 1 + prompt.image_tokens + 2  # <img> and </img> count as text


def test_a_prompt_without_images_has_no_multimodal_data():
    assert vllm_prompt([1, 2, 3], [], []) == {"prompt_token_ids": [1, 2, 3]}


def test_engine_arguments_carry_the_familys_pins_and_the_tiled_architecture():
    known = {"mm_processor_kwargs", "hf_overrides"}
    settings = Settings(vllm_args=['mm_processor_kwargs={"do_resize": true}'])
    qwen = engine_kwargs("/m", settings, known, family=families.QWEN3_5)
    assert qwen["mm_processor_kwargs"] == {"do_resize": True, **families.QWEN3_5.vllm_processor_kwargs()}
    assert "hf_overrides" not in qwen
    internvl = engine_kwargs("/m", Settings(), known, family=families.INTERNVL)
    assert internvl["hf_overrides"] == {"architectures": ["OculiInternVLForConditionalGeneration"]}
    assert "mm_processor_kwargs" not in internvl
    assert "mm_processor_kwargs" not in engine_kwargs("/m", Settings(), known, family=None)
