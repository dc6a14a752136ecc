"""Chat completions of a thinking model on the transformers engine, read with the official ``openai`` client.

What every engine must do with a thinking model (the cut, the budget on every surface, effort
``none``, a schema after the thinking) is the contract of ``test_reasoning_engines.py``, run there
on all three engines; this module holds what is checked on the transformers server only.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import OpenAI
from reasoning_support import KEY, picture_url

from oculi.testing.server import ServerProcess

TAGS = ("<think>", "</think>")


@pytest.fixture
def client(thinking_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=thinking_server.v1, api_key=KEY, max_retries=0)


def ask(text: str = "What is in the picture?") -> list:
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": picture_url()}}],
        }
    ]


def reasoning_of(message: object) -> str | None:
    # openai's models keep fields the SDK does not declare (reasoning_content) as extras.
    return getattr(message, "reasoning_content", None)


def test_models_say_which_models_think(thinking_server: ServerProcess) -> None:
    models = httpx.get(thinking_server.v1 + "/models", headers={"authorization": f"Bearer {KEY}"}).json()
    assert models["data"][0]["reasoning"] == {"parser": "qwen3", "can_disable": True}


def test_streamed_reasoning_matches_the_whole_answer(client: OpenAI) -> None:
    whole = client.chat.completions.create(model="grok-4", messages=ask(), max_tokens=10, temperature=0)
    stream = client.chat.completions.create(
        model="grok-4",
        messages=ask(),
        max_tokens=10,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    reasoning, content, finish, usage = "", "", None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            reasoning += reasoning_of(choice.delta) or ""
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert reasoning == reasoning_of(whole.choices[0].message)
    assert content == "" and finish == "length"
    assert usage is not None and usage.completion_tokens_details.reasoning_tokens == 10


def test_low_effort_streamed_splits_the_same(client: OpenAI) -> None:
    kwargs = {"model": "grok-4", "messages": ask(), "max_tokens": 24, "temperature": 0, "reasoning_effort": "low"}
    whole = client.chat.completions.create(**kwargs)
    reasoning, content = "", ""
    for chunk in client.chat.completions.create(**kwargs, stream=True):
        for choice in chunk.choices:
            reasoning += reasoning_of(choice.delta) or ""
            content += choice.delta.content or ""
    assert reasoning == reasoning_of(whole.choices[0].message)
    assert content == whole.choices[0].message.content


def test_unknown_effort_is_a_400_naming_the_field(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="grok-4", messages=ask(), max_tokens=4, reasoning_effort="extreme")
    assert info.value.response.json()["param"] == "reasoning_effort"


def test_required_tool_call_comes_after_the_thinking(client: OpenAI) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 8}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    out = client.chat.completions.create(
        model="grok-4",
        messages=ask("Weather in the picture's city?"),
        max_tokens=80,
        temperature=0,
        reasoning_effort="low",
        tools=[tool],  # type: ignore[list-item]
        tool_choice="required",
    )
    choice = out.choices[0]
    assert reasoning_of(choice.message) and "<tool_call>" not in (reasoning_of(choice.message) or "")
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert set(json.loads(calls[0].function.arguments)) == {"city"}  # type: ignore[union-attr]
