"""The family entries (``oculi.families``) checked against each family's own processor, in-process.

For every entry, its tiny checkpoint (``oculi.testing``) is built once and its
real processor (transformers' class for the family, the checkpoint's processor
files) is the reference: the entry's geometry gives the processor's token count
for one view, the entry's placeholder / wrapper expansion gives the processor's
prompt ids for the images the entry says one request image becomes, and the
vLLM processor pins keep the largest grid at its size. No model runs here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from oculi import families
from oculi.domain import Detail
from oculi.families import FAMILIES, Family, Grouping
from oculi.intake.tiling import plan_tiles, render_grid, render_views
from oculi.intake.types import TOKENS_PER_TILE, TilePlan, ViewLayout

#: The tiny checkpoint of each family: adding a family is an entry plus this line (and its builder).
FIXTURES = {
    "internvl": "tiny-internvl",
    "qwen2_5_vl": "tiny-qwen2_5_vl",
    "qwen3_vl": "tiny-qwen3_vl",
    "qwen3_5": "tiny-qwen3_5",
    "glm4v": "tiny-glm4v",
    "gemma3": "tiny-gemma3",
    "gemma4": "tiny-gemma4",
}
BY_NAME = {family.name: family for family in FAMILIES}


def test_every_family_has_a_tiny_checkpoint():
    assert set(FIXTURES) == set(BY_NAME)


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def checkpoint(request):
    """(family, config, processor) of one family's tiny checkpoint."""
    from transformers import AutoConfig

    from oculi.engines.common.checkpoint import load_processor
    from oculi.testing.checkpoints import cached_checkpoint

    path = cached_checkpoint(FIXTURES[request.param])
    return BY_NAME[request.param], AutoConfig.from_pretrained(path), load_processor(path)


def _picture(width: int, height: int) -> Image.Image:
    rng = np.random.RandomState(width * 7 + height)
    return Image.fromarray((rng.rand(height, width, 3) * 255).astype("uint8"))


def _model_pictures(family: Family, plan: TilePlan, image: Image.Image) -> list[Image.Image]:
    """The uint8 images the model takes for ``image``, as intake renders them for this family."""
    spec = family.pixel_spec((0.5,) * 3, (0.5,) * 3, normalise=False)  # type: ignore[arg-type]
    arrays = render_grid(image, plan, spec) if family.layout is ViewLayout.GRID else render_views(image, plan, spec)
    return [Image.fromarray(np.asarray(a)) for a in arrays]


def _rendered(processor, images: int) -> str:
    content = [{"type": "image"} for _ in range(images)] + [{"type": "text", "text": "What is this?"}]
    return str(
        processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
    )


def test_the_checkpoint_is_its_family_with_256_tokens_a_view(checkpoint):
    family, config, _ = checkpoint
    assert families.family_of(config.model_type) is family
    assert family.tokens_per_view(config) == TOKENS_PER_TILE
    assert families.match(config) is family


def test_the_template_writes_the_entrys_placeholder_once_per_model_image(checkpoint):
    family, _, processor = checkpoint
    assert _rendered(processor, 3).count(family.image_text.placeholder) == 3


def test_multimodal_positions_are_the_architectures(checkpoint):
    from oculi.engines.hf.engine import multimodal_positions

    family, config, _ = checkpoint
    assert family.mrope == multimodal_positions(config)


@pytest.mark.parametrize(
    ("size", "detail"),
    [((300, 200), Detail.LOW), ((1000, 700), Detail.HIGH), ((1500, 40), Detail.AUTO), ((1, 1), Detail.HIGH)],
)
def test_the_entrys_expansion_is_the_processors_prompt(checkpoint, size, detail):
    """The processor, given the images the entry says the model takes, writes exactly the entry's expansion."""
    family, _, processor = checkpoint
    if family.grouping is Grouping.STACK and detail is not Detail.LOW:
        pytest.skip("InternVL's processor re-tiles one image by its own rule: one view is what compares")
    plan = plan_tiles(*size, detail)
    counts = family.model_images(plan)
    pictures = _model_pictures(family, plan, _picture(*size))
    assert len(pictures) == len(counts)
    text = _rendered(processor, len(counts))
    reference = processor(
        text=[text], images=pictures, return_tensors="np", add_special_tokens=False, **family.vllm_processor_kwargs()
    )["input_ids"][0].tolist()

    pieces = text.split(family.image_text.placeholder)
    expanded = pieces[0] + "".join(
        family.image_text.expand(n * TOKENS_PER_TILE) + piece for n, piece in zip(counts, pieces[1:], strict=True)
    )
    ours = processor.tokenizer(expanded, add_special_tokens=False)["input_ids"]
    assert ours == reference
    image_token = processor.tokenizer.convert_tokens_to_ids(family.image_text.token)
    assert ours.count(image_token) == plan.views * TOKENS_PER_TILE


def test_the_processor_pins_keep_the_largest_grid_at_its_size(checkpoint):
    """With the entry's pins, the processor takes a 3×2 grid image and a single view without resizing them."""
    family, _, processor = checkpoint
    s = family.view_size
    if family.grouping is not Grouping.GRID:  # one view a model image: a budget pin (Gemma 4) keeps it whole
        pins = family.vllm_processor_kwargs()
        if pins:
            out = processor.image_processor(images=[_picture(s, s)], return_tensors="np", **pins)
            assert list(out["num_soft_tokens_per_image"]) == [TOKENS_PER_TILE]
            assert int((out["image_position_ids"][0] >= 0).all(axis=-1).sum()) == (s // 16) ** 2
        return
    grid = _picture(3 * s, 2 * s)
    pins = family.vllm_processor_kwargs()
    out = processor.image_processor(images=[grid, _picture(s, s)], return_tensors="np", **pins)
    patch = int(processor.image_processor.patch_size)
    assert out["image_grid_thw"].tolist() == [[1, 2 * s // patch, 3 * s // patch], [1, s // patch, s // patch]]


@pytest.mark.parametrize(
    ("plan", "stack", "each_view", "grid"),
    [
        (TilePlan(Detail.LOW, 1, 1, thumbnail=False), [1], [1], [1]),
        (TilePlan(Detail.HIGH, 1, 1, thumbnail=True), [2], [1, 1], [1, 1]),
        (TilePlan(Detail.HIGH, 3, 2, thumbnail=True), [7], [1] * 7, [6, 1]),
    ],
)
def test_model_images_of_one_request_image(plan, stack, each_view, grid):
    expected = {Grouping.STACK: stack, Grouping.EACH_VIEW: each_view, Grouping.GRID: grid}
    for family in FAMILIES:
        images = family.model_images(plan)
        assert images == expected[family.grouping], family.name
        assert sum(images) == plan.views  # every view is in exactly one model image: (tiles + 1) · 256 tokens


def test_only_families_a_processor_resizes_are_pinned():
    resized = {"qwen2_5_vl", "qwen3_vl", "qwen3_5", "glm4v", "gemma4"}  # Gemma 4 resizes to its soft-token budget
    for family in FAMILIES:
        assert bool(family.vllm_processor_kwargs()) == (family.name in resized), family.name


def test_wrappers():
    gemma = BY_NAME["gemma3"].image_text
    # Gemma3Processor.full_image_sequence, newlines included; llama.cpp adds only the newlines (mtmd wraps).
    assert gemma.expand(2) == "\n\n<start_of_image><image_soft_token><image_soft_token><end_of_image>\n\n"
    assert gemma.around == ("\n\n", "\n\n") and not gemma.in_place
    assert BY_NAME["internvl"].image_text.expand(1) == "<img><IMG_CONTEXT></img>"
    # Gemma4Processor.replace_image_token: no newlines around, unlike Gemma 3's.
    assert BY_NAME["gemma4"].image_text.expand(1) == "<|image><|image|><image|>"
    qwen = BY_NAME["qwen3_5"].image_text
    assert qwen.in_place and qwen.expand(3) == "<|image_pad|>" * 3


def test_projector_names_name_one_family_each():
    seen: dict[str, str] = {}
    for family in FAMILIES:
        for name in family.projectors:
            assert name not in seen, f"{name} names {seen.get(name)} and {family.name}"
            seen[name] = family.name
            assert families.of_projector(name) is family
    assert families.of_projector("qwen3vl_merger") is families.QWEN3_VL
    assert families.of_projector("llava") is None and families.of_projector("pixtral") is None


def test_a_checkpoint_of_other_geometry_keeps_its_processor():
    from transformers import Gemma3Config, Qwen2VLConfig

    assert families.match(Qwen2VLConfig()) is families.QWEN2_5_VL  # 14 px patches merged 2×2: 448 px views
    assert families.match(Qwen2VLConfig(vision_config={"patch_size": 16})) is None  # 448 / 32 is not whole
    assert families.match(Gemma3Config(vision_config={"image_size": 448})) is None
    assert families.family_of("llava") is None


def test_qwen3_5_thinks_by_default_like_its_template():
    from oculi.testing.family_checkpoints import QWEN3_5_CHAT_TEMPLATE, QWEN3_VL_CHAT_TEMPLATE

    assert QWEN3_5_CHAT_TEMPLATE != QWEN3_VL_CHAT_TEMPLATE
    assert "'<think>\\n'" in QWEN3_5_CHAT_TEMPLATE and "enable_thinking is false" in QWEN3_5_CHAT_TEMPLATE


def test_gemma4_flat_patches_are_its_processors(checkpoint):
    """``flat_patches`` of a normalised view equals Gemma4ImageProcessor's patches and positions (padding cut)."""
    family, config, processor = checkpoint
    if family.tower_inputs is None:
        return
    import torch

    s = family.view_size
    picture = _picture(s, s)
    reference = processor.image_processor(images=[picture], return_tensors="np", **family.vllm_processor_kwargs())
    mean, std = processor.image_processor.image_mean, processor.image_processor.image_std
    views = (np.asarray(picture, dtype=np.float32).transpose(2, 0, 1) / 255 - np.reshape(mean, (3, 1, 1))) / np.reshape(
        std, (3, 1, 1)
    )
    ours = family.tower_inputs(torch.tensor(views[None], dtype=torch.float32), config)
    n = ours["pixel_values"].shape[1]
    assert n == (s // 16) ** 2
    np.testing.assert_allclose(ours["pixel_values"][0].numpy(), reference["pixel_values"][0][:n], atol=1e-6)
    assert ours["image_position_ids"][0].tolist() == reference["image_position_ids"][0][:n].tolist()


def test_pixel_spec_follows_the_grouping():
    for family in FAMILIES:
        spec = family.pixel_spec((0.5,) * 3, (0.5,) * 3)  # type: ignore[arg-type]
        assert spec.view_size == family.view_size and spec.tiles
        assert (spec.layout is ViewLayout.GRID) == (family.grouping is Grouping.GRID)
        assert replace(spec, normalise=False) == family.pixel_spec((0.5,) * 3, (0.5,) * 3, normalise=False)  # type: ignore[arg-type]
