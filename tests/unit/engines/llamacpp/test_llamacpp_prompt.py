"""The llama.cpp engine's prompt: template placeholders, SPEC §3 views as bitmaps (no llama.cpp needed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from oculi.domain import Conversation, Detail, ImagePart, Message, Role, TextPart
from oculi.engines.llamacpp.prompt import (
    MTMD_MARKER,
    Bitmap,
    ChatTemplate,
    Layout,
    build_pieces,
    split_on_images,
    views_rgb,
)
from oculi.errors import InvalidRequest
from oculi.families import INTERNVL
from oculi.intake.types import PixelSpec
from oculi.testing.checkpoints import INTERNVL_CHAT_TEMPLATE

STRING_ONLY_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _conversation(*parts) -> Conversation:
    return Conversation([Message(Role.USER, list(parts))])


def test_internvl_template_is_cut_at_its_image_placeholder():
    template = ChatTemplate(INTERNVL_CHAT_TEMPLATE, "", "<|im_end|>")
    pieces = split_on_images(template, _conversation(TextPart("A"), ImagePart("x"), TextPart("B"), ImagePart("y")), 2)
    assert pieces == ["<|im_start|>user\nA", "\nB", "\n<|im_end|>\n<|im_start|>assistant\n"]


def test_typed_placeholder_text_cannot_move_the_images():
    template = ChatTemplate(INTERNVL_CHAT_TEMPLATE, "", "<|im_end|>")
    pieces = split_on_images(template, _conversation(TextPart("what is <IMG_CONTEXT>?"), ImagePart("x")), 1)
    # <IMG_CONTEXT> appears twice, so it is not trusted; the images go inline as the marker instead
    assert len(pieces) == 2 and "what is <IMG_CONTEXT>?" in pieces[0] + pieces[1]
    with pytest.raises(InvalidRequest, match="reserved marker"):
        split_on_images(template, _conversation(TextPart(MTMD_MARKER), ImagePart("x")), 1)


def test_string_only_template_gets_images_inline():
    template = ChatTemplate(STRING_ONLY_CHATML, "", "")
    pieces = split_on_images(template, _conversation(ImagePart("x"), TextPart("What?")), 1)
    assert pieces == ["<|im_start|>user\n", "\nWhat?<|im_end|>\n<|im_start|>assistant\n"]


def test_views_round_trip_exactly_from_intake_normalised_tiles(prepare_image):
    rng = np.random.RandomState(3)
    picture = Image.fromarray((rng.rand(500, 1000, 3) * 255).astype("uint8"))
    spec = PixelSpec()
    image = prepare_image(picture, Detail.HIGH, spec)
    views = views_rgb(image, spec)
    assert views.shape == (image.plan.views, 448, 448, 3) and views.dtype == np.uint8
    resized = np.asarray(picture.resize((448 * image.plan.cols, 448 * image.plan.rows), Image.Resampling.BICUBIC))
    assert np.array_equal(views[0], resized[:448, :448])
    assert np.array_equal(views[1], resized[:448, 448:896])


def test_tiles_layout_writes_img_tags_around_one_bitmap_per_view(prepare_image):
    spec = PixelSpec()
    picture = Image.new("RGB", (1920, 1080), (10, 200, 30))
    image = prepare_image(picture, Detail.HIGH, spec)
    conversation = _conversation(ImagePart("x", Detail.HIGH), TextPart("Describe."))
    vocab = {"<img>": [1], "</img>": [2]}
    pieces = build_pieces(
        ChatTemplate(INTERNVL_CHAT_TEMPLATE, "", ""),
        conversation,
        [image],
        Layout.TILES,
        spec,
        lambda text, first: vocab.get(text, [ord(c) for c in text]),
        family=INTERNVL,
    )
    bitmaps = [p for p in pieces if isinstance(p, Bitmap)]
    assert (image.plan.cols, image.plan.rows) == (2, 1)  # SPEC §3 for 1920×1080, not mtmd's 2×2
    assert len(bitmaps) == 3 and all((b.width, b.height) == (448, 448) and not b.wrapped for b in bitmaps)
    assert len({b.key for b in bitmaps}) == 3
    index = pieces.index(bitmaps[0])
    assert pieces[index - 1] == [1] and pieces[index + 3] == [2]


def _views_pieces(family, template: str, prepare_image, size, detail):
    spec = family.pixel_spec((0.5,) * 3, (0.5,) * 3, normalise=False)  # type: ignore[arg-type]
    image = prepare_image(Image.new("RGB", size, (10, 200, 30)), detail, spec)
    conversation = _conversation(ImagePart("x", detail), TextPart("Describe."))
    texts: list[str] = []

    def tokenize(text: str, first: bool) -> list[int]:
        texts.append(text)
        return [ord(c) for c in text]

    pieces = build_pieces(
        ChatTemplate(template, "<bos>", ""), conversation, [image], Layout.VIEWS, spec, tokenize, family=family
    )
    return image, pieces, texts


def test_qwen_views_are_the_grid_image_and_the_thumbnail_each_in_its_own_placeholder(prepare_image):
    from oculi.families import QWEN3_VL
    from oculi.testing.family_checkpoints import QWEN3_VL_CHAT_TEMPLATE

    image, pieces, texts = _views_pieces(QWEN3_VL, QWEN3_VL_CHAT_TEMPLATE, prepare_image, (1920, 1080), Detail.HIGH)
    bitmaps = [p for p in pieces if isinstance(p, Bitmap)]
    assert (image.plan.cols, image.plan.rows) == (2, 1)
    assert [(b.width, b.height) for b in bitmaps] == [(1024, 512), (512, 512)]  # 512 px views of Qwen3-VL
    assert all(b.wrapped for b in bitmaps)  # mtmd's <|vision_start|>…<|vision_end|> around each, as Qwen writes
    assert len(bitmaps[0].rgb) == 1024 * 512 * 3
    # the template's two placeholders are gone, nothing but the images sits between them
    assert texts == ["<|im_start|>user\n", "", "Describe.<|im_end|>\n<|im_start|>assistant\n"]
    assert "<|image_pad|>" not in "".join(texts)


def test_gemma_views_are_one_bitmap_each_with_the_processors_newlines_around(prepare_image):
    from oculi.families import GEMMA3
    from oculi.testing.family_checkpoints import GEMMA3_CHAT_TEMPLATE

    image, pieces, texts = _views_pieces(GEMMA3, GEMMA3_CHAT_TEMPLATE, prepare_image, (900, 450), Detail.HIGH)
    bitmaps = [p for p in pieces if isinstance(p, Bitmap)]
    assert len(bitmaps) == image.plan.views == 3 and all((b.width, b.height) == (896, 896) for b in bitmaps)
    assert len({b.key for b in bitmaps}) == 3
    assert texts == [
        "<bos><start_of_turn>user\n\n\n",
        "\n\n\n\n",
        "\n\n\n\n",
        "\n\nDescribe.<end_of_turn>\n<start_of_turn>model\n",
    ]
    _, pieces, _ = _views_pieces(GEMMA3, GEMMA3_CHAT_TEMPLATE, prepare_image, (300, 200), Detail.AUTO)
    assert [(p.width, p.height) for p in pieces if isinstance(p, Bitmap)] == [(896, 896)]
