"""The reasoning contract of every engine: the split and the budget on transformers, llama.cpp and vLLM.

Each engine serves its form of the tiny thinking checkpoint behind a real
server: transformers the checkpoint itself (the suite's shared ``thinking_server``),
llama.cpp the GGUF conversion (``tests/fixtures/gguf/
tiny-internvl-thinking.gguf`` with tiny-internvl's projector), vLLM the
head-size-32 build. Checked with the openai client on chat and Responses
and with xai-sdk: all reasoning when cut inside the thinking, both halves
with a ``low`` budget (reasoning tokens = the budget), effort ``none``,
and a JSON schema applied after the thinking.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator

import pytest
import xai_sdk
from openai import OpenAI
from reasoning_support import BUDGET, KEY, picture_url
from servers import GGUF, Servers, family, vllm_available, vllm_families
from xai_sdk.chat import image, user

from oculi.testing.server import ServerProcess

#: Each engine's server: its form of the thinking checkpoint and the suite's reasoning budgets.
BUDGETS = {"OCULI_REASONING_BUDGETS": json.dumps({"low": BUDGET, "medium": 2 * BUDGET})}
TAGS = ("<think>", "</think>")


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("transformers", marks=pytest.mark.on_server("thinking_server")),
        "llamacpp",
        # vLLM's thinking checkpoint is the default model of the vLLM family tests' server.
        pytest.param("vllm", marks=pytest.mark.on_server("vllm families")),
    ],
)
def server(request: pytest.FixtureRequest, servers: Servers) -> Iterator[ServerProcess]:
    if request.param == "transformers":
        yield request.getfixturevalue("thinking_server")
        return
    if request.param == "llamacpp":
        if importlib.util.find_spec("llama_cpp") is None and not os.environ.get("CI"):
            pytest.skip("llama-cpp-python is not installed (scripts/build_llamacpp.sh)")
        engine = {**BUDGETS, "OCULI_MMPROJ": str(GGUF / "tiny-internvl-mmproj.gguf")}
        config = family(GGUF / "tiny-internvl-thinking.gguf", engine)
    else:
        if not vllm_available():
            pytest.skip("vLLM is not installed (OCULI_VLLM=cpu ./scripts/install.sh installs it)")
        config = vllm_families()
    with servers.lease(config) as leased:
        yield leased


@pytest.fixture
def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=server.v1, api_key=KEY, max_retries=0, timeout=300)


def ask(text: str = "What is in the picture?") -> list:
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": picture_url()}}],
        }
    ]


def test_cut_inside_thinking_is_all_reasoning(client: OpenAI) -> None:
    out = client.chat.completions.create(model="grok-4", messages=ask(), max_tokens=8, temperature=0)
    message = out.choices[0].message
    reasoning = getattr(message, "reasoning_content", None)
    assert reasoning and not any(tag in reasoning for tag in TAGS) and message.content == ""
    assert out.choices[0].finish_reason == "length"
    assert out.usage is not None and out.usage.completion_tokens == 8
    assert out.usage.completion_tokens_details.reasoning_tokens == 8


def test_budget_splits_both_halves_on_every_surface(client: OpenAI, server: ServerProcess) -> None:
    out = client.chat.completions.create(
        model="grok-4", messages=ask(), max_tokens=24, temperature=0, reasoning_effort="low"
    )
    message = out.choices[0].message
    reasoning = getattr(message, "reasoning_content", None)
    assert reasoning and message.content and not any(tag in reasoning + message.content for tag in TAGS)
    assert out.usage is not None and out.usage.completion_tokens > BUDGET
    # vLLM counts its budget without the end tag it forces (one token here): both are "the budget".
    assert out.usage.completion_tokens_details.reasoning_tokens in (BUDGET, BUDGET + 1)
    streamed = ""
    for chunk in client.chat.completions.create(
        model="grok-4", messages=ask(), max_tokens=24, temperature=0, reasoning_effort="low", stream=True
    ):
        streamed += "".join(getattr(c.delta, "reasoning_content", None) or "" for c in chunk.choices)
    assert streamed == reasoning
    response = client.responses.create(
        model="grok-4",
        input=[{"role": "user", "content": "What is in the picture?"}],
        max_output_tokens=24,
        temperature=0,
        reasoning={"effort": "low"},
    )
    assert [item.type for item in response.output] == ["reasoning", "message"]
    xai = xai_sdk.Client(api_host=server.grpc_address, api_key=KEY)
    chat = xai.chat.create(
        model="grok-4",
        messages=[user("What is in the picture?", image(picture_url()))],
        max_tokens=24,
        temperature=0,
        reasoning_effort="low",
    )
    sampled = chat.sample()
    assert sampled.reasoning_content == reasoning and sampled.content == message.content


def test_effort_none_answers_without_thinking(client: OpenAI) -> None:
    out = client.chat.completions.create(
        model="grok-4", messages=ask(), max_tokens=6, temperature=0, reasoning_effort="none"
    )
    assert getattr(out.choices[0].message, "reasoning_content", None) is None
    assert out.choices[0].message.content
    assert out.usage is not None and out.usage.completion_tokens_details.reasoning_tokens == 0


def test_json_schema_after_thinking(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    out = client.chat.completions.create(
        model="grok-4",
        messages=ask("How many?"),
        max_tokens=40,
        temperature=0,
        reasoning_effort="low",
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema, "strict": True}},
    )
    message = out.choices[0].message
    assert getattr(message, "reasoning_content", None)
    assert isinstance(json.loads(message.content or "")["n"], int)
