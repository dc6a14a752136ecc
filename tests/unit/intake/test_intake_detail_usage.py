"""The level the ``content`` policy chooses is what the engines are fed and what their usage reports.

In process: intake under ``OCULI_AUTO_DETAIL=content`` prepares a small-text
page and a photo for an engine, and the engine's usage counts exactly the
SPEC §3 formula for the level chosen: transformers on the tiny InternVL
(which counts the image tokens in the prompt it builds), llama.cpp on the
tiny InternVL GGUF (which counts what mtmd encoded) and oculi-lite. The vLLM
engine builds its prompt from the same ``TilePlan`` (tests/api/
test_api_vllm.py checks its usage = formula per plan on a real vLLM server);
the HTTP and gRPC surfaces are checked in tests/api/test_api_auto_detail.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import numpy as np
import pytest
from gguf_fixtures import HAVE_LLAMA_CPP, load_gguf
from intake_helpers import data_url, encode
from PIL import Image, ImageDraw, ImageFont

from oculi.domain import Conversation, Detail, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import Engine, EngineRequest
from oculi.intake.pipeline import Intake
from oculi.intake.tiling import plan_tiles
from oculi.settings import Settings

SIZE = (1600, 1200)


def images() -> list[str]:
    page = Image.new("RGB", SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(page)
    for y in range(20, SIZE[1] - 40, 21):
        draw.text((20, y), "Invoice 2291 total due 1,204.50 EUR", fill=(0, 0, 0), font=ImageFont.load_default(14))
    coarse = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    photo = Image.fromarray(coarse).resize(SIZE, Image.Resampling.BICUBIC)
    return [data_url(encode(page, "PNG")), data_url(encode(photo, "JPEG"), "image/jpeg")]


@pytest.fixture(scope="module")
async def lite() -> AsyncIterator[Engine]:
    from oculi.engines.lite import load

    engine = load(Settings(threads=2))
    yield engine
    await engine.close()


@pytest.fixture(scope="module")
def gguf_internvl() -> Iterator[Engine]:
    if not HAVE_LLAMA_CPP:
        pytest.skip("llama-cpp-python is not installed (scripts/build_llamacpp.sh)")
    engine = load_gguf("tiny-internvl", Settings(llamacpp_context=8192, threads=1, offline=True))
    yield engine
    engine.worker.close()


async def usage_for(engine: Engine, make_intake: Callable[..., Intake], question: str, collect) -> tuple:
    parts = [ImagePart(url) for url in images()]
    prepared = await make_intake(auto_detail="content").prepare(parts, engine.pixel_spec, question=question)
    conversation = Conversation([Message(Role.USER, [*parts, TextPart(question)])])
    request = EngineRequest("d", conversation, prepared, GenerationParams(max_tokens=1, temperature=0))
    return prepared, (await collect(engine, request)).usage


@pytest.mark.parametrize("engine_fixture", ["internvl_engine", "gguf_internvl"], ids=["transformers", "llama.cpp"])
@pytest.mark.parametrize(
    ("question", "levels"),
    [("Describe these.", [Detail.HIGH, Detail.LOW]), ("Transcribe the text.", [Detail.HIGH, Detail.HIGH])],
)
async def test_engine_usage_is_the_formula_for_the_level_chosen(
    request, make_intake, collect, engine_fixture: str, question: str, levels: list[Detail]
) -> None:
    engine = request.getfixturevalue(engine_fixture)
    prepared, usage = await usage_for(engine, make_intake, question, collect)
    assert [p.plan.detail for p in prepared] == levels
    assert usage.prompt_image_tokens == sum(plan_tiles(*SIZE, level).image_tokens for level in levels)


async def test_lite_usage_is_the_formula_for_the_level_chosen(lite, make_intake, collect) -> None:
    prepared, usage = await usage_for(lite, make_intake, "Describe these.", collect)
    assert [p.plan.detail for p in prepared] == [Detail.HIGH, Detail.LOW]
    assert usage.prompt_image_tokens == plan_tiles(*SIZE, Detail.HIGH).image_tokens + 256
