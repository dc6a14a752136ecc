"""Constrained decoding on the llama.cpp engine (tiny GGUF fixture): schema output, tool calls, a mixed batch of 8.

Skipped (with the reason) when the optional llama-cpp-python extra is not installed.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from gguf_fixtures import FIXTURES, LLAMACPP
from PIL import Image
from structured_models import Receipt, Weather

from oculi.domain import (
    Conversation,
    Detail,
    FinishReason,
    FormatKind,
    FunctionTool,
    GenerationParams,
    ImagePart,
    Message,
    OutputSpec,
    ResponseFormat,
    Role,
    TextPart,
    ToolChoice,
    ToolChoiceMode,
)
from oculi.engines.base import EngineRequest
from oculi.settings import Settings
from oculi.structured import plan
from oculi.structured.calls import CallCollector

pytestmark = LLAMACPP
SCHEMA = OutputSpec(response_format=ResponseFormat(FormatKind.JSON_SCHEMA, "receipt", Receipt.model_json_schema()))
TOOL = OutputSpec(
    tools=[FunctionTool("get_weather", "Weather for a city", Weather.model_json_schema())],
    tool_choice=ToolChoice(ToolChoiceMode.REQUIRED),
)


@pytest.fixture(scope="module")
def gguf():
    from oculi.engines import llamacpp

    settings = Settings(max_batch_size=8, llamacpp_context=2048, threads=1, offline=True)
    engine = llamacpp.load(str(FIXTURES / "tiny-internvl.gguf"), str(FIXTURES / "tiny-internvl-mmproj.gguf"), settings)
    yield engine
    engine.worker.close()


def _request(engine, prepare_image, seed: int, output: OutputSpec, n: int = 1) -> EngineRequest:
    rng = np.random.RandomState(seed)
    image = Image.fromarray((rng.rand(64, 96, 3) * 255).astype("uint8"))
    prepared = prepare_image(image, Detail.LOW, engine.pixel_spec)
    conversation = Conversation([Message(Role.USER, [ImagePart("data:", Detail.LOW), TextPart("Read the receipt.")])])
    params = GenerationParams(max_tokens=160, temperature=1.0, seed=seed, n=n)
    return EngineRequest(f"g{seed}", conversation, [prepared], params, plan(output))


async def test_schema_output_validates(gguf, prepare_image, collect):
    out = await collect(gguf, _request(gguf, prepare_image, 1, SCHEMA, n=2))
    for i in range(2):
        assert out.finish[i] is FinishReason.STOP
        Receipt.model_validate_json(out.texts[i])


async def test_required_tool_call_validates(gguf, prepare_image, collect):
    out = await collect(gguf, _request(gguf, prepare_image, 2, TOOL))
    collector = CallCollector(True)
    finish = None
    for delta in out.deltas:
        finish = collector.delta(delta).finish_reason or finish
    (call,) = collector.calls(0)
    assert finish is FinishReason.TOOL_CALLS and call.name == "get_weather"
    Weather.model_validate_json(call.arguments)


async def test_mixed_batch_of_eight(gguf, prepare_image, collect):
    specs = [SCHEMA, OutputSpec(), TOOL, OutputSpec(response_format=ResponseFormat(FormatKind.JSON_OBJECT))]
    requests = [_request(gguf, prepare_image, 20 + i, specs[i % 4]) for i in range(8)]
    results = await asyncio.gather(*(collect(gguf, r) for r in requests))
    assert gguf.worker.peak_running > 1
    for i, out in enumerate(results):
        if i % 4 == 0:
            Receipt.model_validate_json(out.text)
        elif i % 4 == 2:
            call = json.loads(out.text.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"))
            Weather.model_validate(call["arguments"])
        elif i % 4 == 3 and out.finish[0] is FinishReason.STOP:
            assert isinstance(json.loads(out.text), dict)
