"""Constrained decoding, one contract for every engine that decodes in-process (transformers, llama.cpp).

Random weights, so only the grammar makes the output valid: a JSON schema's
output validates (``n=2``), a required tool call is one valid call ending
``tool_calls``, and a batch of 8 mixing schema, free text, tool calls and
JSON-object requests keeps each request's own grammar. The vLLM engine runs
the same checks behind a real server (``tests/api/test_api_vllm.py``).
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from gguf_fixtures import HAVE_LLAMA_CPP, load_gguf
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

RECEIPT = Receipt.model_json_schema()
SCHEMA = OutputSpec(response_format=ResponseFormat(FormatKind.JSON_SCHEMA, "receipt", RECEIPT, True))
TOOL = OutputSpec(
    tools=[FunctionTool("get_weather", "Weather for a city", Weather.model_json_schema())],
    tool_choice=ToolChoice(ToolChoiceMode.REQUIRED),
)
JSON_OBJECT = OutputSpec(response_format=ResponseFormat(FormatKind.JSON_OBJECT))


@pytest.fixture(
    scope="module",
    params=[
        "transformers",
        pytest.param(
            "llamacpp",
            marks=[
                pytest.mark.llamacpp,
                pytest.mark.skipif(not HAVE_LLAMA_CPP, reason="llama-cpp-python is not installed"),
            ],
        ),
    ],
)
def engine(request: pytest.FixtureRequest):
    """Each in-process engine on the tiny InternVL (the transformers checkpoint or its GGUF conversion)."""
    if request.param == "transformers":
        yield request.getfixturevalue("internvl_engine")
        return
    settings = Settings(max_batch_size=8, llamacpp_context=2048, threads=1, offline=True)
    gguf = load_gguf("tiny-internvl", settings)
    yield gguf
    gguf.worker.close()


def _request(engine, prepare_image, seed: int, output: OutputSpec, n: int = 1) -> EngineRequest:
    rng = np.random.RandomState(seed)
    image = Image.fromarray((rng.rand(64, 96, 3) * 255).astype("uint8"))
    prepared = prepare_image(image, Detail.LOW, engine.pixel_spec)
    conversation = Conversation([Message(Role.USER, [ImagePart("data:", Detail.LOW), TextPart("Read the receipt.")])])
    params = GenerationParams(max_tokens=160, temperature=1.0, seed=seed, n=n)
    return EngineRequest(f"s{seed}", conversation, [prepared], params, plan(output))


def _tool_call(text: str) -> dict:
    """The one tool call a required-tool answer is: ``<tool_call>`` JSON ``</tool_call>``."""
    assert text.startswith("<tool_call>\n") and text.endswith("\n</tool_call>"), text
    return json.loads(text.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"))


async def test_schema_output_validates(engine, prepare_image, collect):
    out = await collect(engine, _request(engine, prepare_image, 1, SCHEMA, n=2))
    for i in range(2):
        assert out.finish[i] is FinishReason.STOP
        Receipt.model_validate_json(out.texts[i])


async def test_required_tool_call_validates(engine, prepare_image, collect):
    out = await collect(engine, _request(engine, prepare_image, 2, TOOL))
    collector = CallCollector(True)
    finish = None
    for delta in out.deltas:
        finish = collector.delta(delta).finish_reason or finish
    (call,) = collector.calls(0)
    assert finish is FinishReason.TOOL_CALLS and call.name == "get_weather"
    Weather.model_validate_json(call.arguments)


async def test_mixed_batch_of_eight(engine, prepare_image, collect):
    specs = [SCHEMA, OutputSpec(), TOOL, JSON_OBJECT]
    requests = [_request(engine, prepare_image, 10 + i, specs[i % 4]) for i in range(8)]
    results = await asyncio.gather(*(collect(engine, r) for r in requests))
    for i, out in enumerate(results):
        kind = i % 4
        if kind == 0:
            Receipt.model_validate_json(out.text)
        elif kind == 2:
            Weather.model_validate(_tool_call(out.text)["arguments"])
        elif kind == 3 and out.finish[0] is FinishReason.STOP:
            assert isinstance(json.loads(out.text), dict)
    if hasattr(engine, "worker"):  # llama.cpp reports how many choices shared a decode step
        assert engine.worker.peak_running > 1
