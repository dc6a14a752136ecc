"""Constrained decoding on the transformers engine: random weights, valid output, mixed batches."""

from __future__ import annotations

import asyncio
import json

import numpy as np
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
from oculi.structured import plan
from oculi.structured.calls import CallCollector

RECEIPT = Receipt.model_json_schema()
WEATHER = FunctionTool("get_weather", "Weather for a city", Weather.model_json_schema())


def _request(engine, prepare_image, seed: int, output: OutputSpec, n: int = 1) -> EngineRequest:
    rng = np.random.RandomState(seed)
    image = Image.fromarray((rng.rand(64, 96, 3) * 255).astype("uint8"))
    prepared = prepare_image(image, Detail.LOW, engine.pixel_spec)
    conversation = Conversation([Message(Role.USER, [ImagePart("data:", Detail.LOW), TextPart("Read the receipt.")])])
    params = GenerationParams(max_tokens=160, temperature=1.0, seed=seed, n=n)
    return EngineRequest(f"s{seed}", conversation, [prepared], params, plan(output))


SCHEMA_OUT = OutputSpec(response_format=ResponseFormat(FormatKind.JSON_SCHEMA, "receipt", RECEIPT, True))
TOOL_OUT = OutputSpec(tools=[WEATHER], tool_choice=ToolChoice(ToolChoiceMode.REQUIRED))


async def test_schema_output_validates(internvl_engine, prepare_image, collect):
    out = await collect(internvl_engine, _request(internvl_engine, prepare_image, 1, SCHEMA_OUT, n=2))
    for i in range(2):
        assert out.finish[i] is FinishReason.STOP
        Receipt.model_validate_json(out.texts[i])


async def test_required_tool_call_validates(internvl_engine, prepare_image, collect):
    request = _request(internvl_engine, prepare_image, 2, TOOL_OUT)
    out = await collect(internvl_engine, request)
    collector = CallCollector(True)
    for delta in out.deltas:
        collector.delta(delta)
    calls = collector.calls(0)
    assert len(calls) == 1 and calls[0].name == "get_weather"
    Weather.model_validate_json(calls[0].arguments)


async def test_mixed_batch_of_eight(internvl_engine, prepare_image, collect):
    specs = [SCHEMA_OUT, OutputSpec(), TOOL_OUT, OutputSpec(response_format=ResponseFormat(FormatKind.JSON_OBJECT))]
    requests = [_request(internvl_engine, prepare_image, 10 + i, specs[i % 4]) for i in range(8)]
    results = await asyncio.gather(*(collect(internvl_engine, r) for r in requests))
    for i, out in enumerate(results):
        kind = i % 4
        if kind == 0:
            Receipt.model_validate_json(out.text)
        elif kind == 2:
            assert out.text.startswith("<tool_call>\n") and out.text.endswith("\n</tool_call>")
            call = json.loads(out.text.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"))
            Weather.model_validate(call["arguments"])
        elif kind == 3 and out.finish[0] is FinishReason.STOP:
            assert isinstance(json.loads(out.text), dict)
