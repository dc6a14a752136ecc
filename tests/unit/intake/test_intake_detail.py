"""The ``auto`` detail policies (``oculi.intake.detail``) and how intake applies them (SPEC §3)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from intake_helpers import data_url, encode, photo
from PIL import Image, ImageDraw, ImageFont

from oculi.domain import Detail, ImagePart
from oculi.intake.detail import AutoDetail, Reason, asks_for_detail, choose_early, measure
from oculi.intake.pipeline import PLAN_ONLY, Intake
from oculi.intake.tiling import plan_tiles
from oculi.intake.types import PixelSpec, ViewLayout
from oculi.metrics import Metrics

SPEC = PixelSpec()


def page(size: tuple[int, int], em: int) -> Image.Image:
    """A white page filled with lines of dark text at font size ``em``."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(em)
    for y in range(em, size[1] - 2 * em, round(1.5 * em)):
        draw.text((em, y), "Invoice 2291 total due 1,204.50 EUR by 30 June, account 0043", fill=(0, 0, 0), font=font)
    return image


def url_of(image: Image.Image, fmt: str = "PNG") -> str:
    return data_url(encode(image, fmt), "image/png" if fmt == "PNG" else "image/jpeg")


# --- what the question asks --------------------------------------------------------------------

ASKING = [
    "What does the sign say?",
    "Please transcribe this receipt.",
    "How many birds are on the wire?",
    "Read the serial number on the label",
    "Where is the cat hiding?",
    "Find the small red button",
    "Lies bitte den Text auf dem Schild vor.",
    "Wie viele Personen sind zu sehen?",
    "Combien de voitures y a-t-il ?",
    "Transcris le texte de cette facture.",
    "¿Qué dice el letrero? Lee el texto.",
    "¿Cuántas personas hay?",
    "Quanti gatti ci sono?",
    "Leia a placa, por favor.",
    "Hoeveel fietsen staan er?",
    "Прочитай надпись на табличке.",
    "Сколько здесь людей?",
    "图片里的文字是什么？",
    "这里有几个人？",
    "この看板には何と書いてありますか？文字を読んでください。",
    "사진에 몇 명이 있나요?",
]
NOT_ASKING = [
    "Describe this image.",
    "Is this a cat or a dog?",
    "What is the mood of this photo?",
    "Write a poem about this landscape.",
    "Beschreibe das Bild.",
    "Décris cette photo.",
    "Describe esta foto.",
    "Опиши эту фотографию.",
    "描述这张照片。",
    "",
]


@pytest.mark.parametrize("question", ASKING)
def test_questions_asking_for_detail(question: str) -> None:
    assert asks_for_detail(question)


@pytest.mark.parametrize("question", NOT_ASKING)
def test_questions_not_asking_for_detail(question: str) -> None:
    assert not asks_for_detail(question)


# --- the decision without pixels -----------------------------------------------------------------


@pytest.mark.parametrize("policy", list(AutoDetail))
@pytest.mark.parametrize("size", [(300, 200), (448, 448), (1600, 1200), (4032, 3024)])
def test_explicit_levels_are_honoured(policy: AutoDetail, size: tuple[int, int]) -> None:
    for detail, level in ((Detail.LOW, Detail.LOW), (Detail.HIGH, Detail.HIGH)):
        choice = choose_early(policy, *size, detail, "transcribe every word")
        assert choice is not None and (choice.detail, choice.reason) == (level, Reason.REQUESTED)


@pytest.mark.parametrize("policy", list(AutoDetail))
def test_images_within_one_view_stay_low(policy: AutoDetail) -> None:
    for size in ((448, 448), (448, 100), (20, 448), (1, 1)):
        choice = choose_early(policy, *size, Detail.AUTO, "read all the small print")
        assert choice is not None and (choice.detail, choice.reason) == (Detail.LOW, Reason.FITS_ONE_VIEW)


def test_size_policy_is_specs_rule() -> None:
    for size in ((449, 448), (448, 449), (4032, 3024)):
        choice = choose_early(AutoDetail.SIZE, *size, Detail.AUTO, "Describe this image.")
        assert choice is not None and (choice.detail, choice.reason) == (Detail.HIGH, Reason.SIZE_RULE)


def test_content_policy_looks_at_pixels_unless_the_question_decides() -> None:
    assert choose_early(AutoDetail.CONTENT, 1600, 1200, Detail.AUTO, "Describe this image.") is None
    choice = choose_early(AutoDetail.CONTENT, 1600, 1200, Detail.AUTO, "How many people are there?")
    assert choice is not None and (choice.detail, choice.reason) == (Detail.HIGH, Reason.QUESTION)


# --- the measure -----------------------------------------------------------------------------------


def test_measure_tells_small_text_from_photos_and_large_text() -> None:
    small_text = measure(np.array(page((1600, 1200), 14)))
    large_text = measure(np.array(page((1600, 1200), 96)))
    picture = measure(np.array(photo(1600, 1200, seed=5)))
    assert small_text.needs_high, small_text
    assert not large_text.needs_high, large_text
    assert not picture.needs_high, picture


def test_measure_is_reproducible() -> None:
    pixels = np.array(page((2000, 1400), 20))
    assert len({measure(pixels.copy()) for _ in range(3)}) == 1


# --- intake under each policy ---------------------------------------------------------------------------


async def test_content_policy_in_prepare_and_plan(make_intake: Callable[..., Intake]) -> None:
    intake = make_intake(auto_detail="content")
    doc, picture = url_of(page((1600, 1200), 14)), url_of(photo(1600, 1200, seed=6), "JPEG")
    [text_image, photo_image] = await intake.prepare([ImagePart(doc), ImagePart(picture)], SPEC)
    assert (text_image.plan.detail, text_image.reason) == (Detail.HIGH, Reason.FINE_DETAIL)
    assert (photo_image.plan.detail, photo_image.reason) == (Detail.LOW, Reason.ONE_VIEW_ENOUGH)
    assert photo_image.image_tokens == 256 and photo_image.pixel_values.shape == (1, 3, 448, 448)
    assert text_image.image_tokens == plan_tiles(1600, 1200, Detail.HIGH).image_tokens
    assert text_image.pixel_values.shape[0] == text_image.plan.views
    # the counting path agrees with what prepare fed, on a fresh intake (no cached verdict) too
    for counter in (intake, make_intake(auto_detail="content")):
        for url, prepared in ((doc, text_image), (picture, photo_image)):
            counted = await counter.plan(ImagePart(url), spec=SPEC)
            assert (counted.plan, counted.reason) == (prepared.plan, prepared.reason)


async def test_question_makes_auto_high(make_intake: Callable[..., Intake]) -> None:
    intake = make_intake(auto_detail="content")
    picture = url_of(photo(1600, 1200, seed=7), "JPEG")
    [plain] = await intake.prepare([ImagePart(picture)], SPEC, question="What is this?")
    [asked] = await intake.prepare([ImagePart(picture)], SPEC, question="How many stones are there?")
    assert plain.plan.detail is Detail.LOW
    assert (asked.plan.detail, asked.reason) == (Detail.HIGH, Reason.QUESTION)
    assert asked.image_tokens == plan_tiles(1600, 1200, Detail.HIGH).image_tokens


async def test_explicit_levels_untouched_by_content_policy(make_intake: Callable[..., Intake]) -> None:
    intake = make_intake(auto_detail="content")
    doc, picture = url_of(page((1600, 1200), 14)), url_of(photo(1600, 1200, seed=8), "JPEG")
    parts = [ImagePart(doc, Detail.LOW), ImagePart(picture, Detail.HIGH)]
    [low, high] = await intake.prepare(parts, SPEC)
    assert (low.plan, low.reason) == (plan_tiles(1600, 1200, Detail.LOW), Reason.REQUESTED)
    assert (high.plan, high.reason) == (plan_tiles(1600, 1200, Detail.HIGH), Reason.REQUESTED)


async def test_size_policy_unchanged(make_intake: Callable[..., Intake]) -> None:
    intake = make_intake()  # the default
    picture = url_of(photo(1600, 1200, seed=9), "JPEG")
    [prepared] = await intake.prepare([ImagePart(picture)], SPEC)
    assert (prepared.plan, prepared.reason) == (plan_tiles(1600, 1200, Detail.AUTO), Reason.SIZE_RULE)
    counted = await intake.plan(ImagePart(picture))
    assert counted.plan == prepared.plan


async def test_verdict_is_cached_with_the_image(make_intake: Callable[..., Intake]) -> None:
    metrics = Metrics()
    intake = Intake(make_intake().settings.model_copy(update={"auto_detail": "content"}), metrics)
    try:
        doc = url_of(page((1400, 1000), 12))
        first = (await intake.prepare([ImagePart(doc)], SPEC))[0]
        again = (await intake.prepare([ImagePart(doc)], SPEC))[0]
        assert (first.plan, first.reason) == (again.plan, again.reason)
        hits = metrics.registry.get_sample_value("oculi_images_total", {"detail": "high", "cache": "hit"})
        assert hits == 1  # the second time the verdict and the pixels came from the cache: nothing decoded
    finally:
        await intake.aclose()


@pytest.mark.parametrize(
    "spec",
    [
        PixelSpec(view_size=896),
        PixelSpec(layout=ViewLayout.GRID, view_size=512),
        PixelSpec(tiles=False, full_image_max_side=1024),
        PLAN_ONLY,
    ],
    ids=["gemma3", "qwen3", "lite", "plan-only"],
)
async def test_content_policy_for_every_pixel_spec(make_intake: Callable[..., Intake], spec: PixelSpec) -> None:
    intake = make_intake(auto_detail="content")
    doc, picture = url_of(page((1600, 1200), 14)), url_of(photo(1600, 1200, seed=10), "JPEG")
    [text_image, photo_image] = await intake.prepare([ImagePart(doc), ImagePart(picture)], spec)
    assert text_image.plan.detail is Detail.HIGH and photo_image.plan.detail is Detail.LOW
    if spec.tiles and spec.layout is ViewLayout.TILES:
        assert photo_image.pixel_values.shape == (1, 3, spec.view_size, spec.view_size)
    if spec.layout is ViewLayout.GRID:
        assert [m.shape for m in photo_image.model_images] == [(3, 512, 512)]
    if spec.full_image_max_side is not None:
        assert max(photo_image.image.size) == spec.full_image_max_side
