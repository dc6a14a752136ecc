"""Structured outputs and tool calls on chat completions, with images, through the official openai client."""

from __future__ import annotations

import json

import httpx
import pytest
from api_support import KEY, data_url, image_bytes
from openai import BadRequestError, OpenAI
from structured_models import WEATHER_TOOL, Receipt, Weather

from oculi.testing.server import ServerProcess


@pytest.fixture
def client(vlm_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=vlm_server.v1, api_key=KEY, max_retries=0, timeout=120)


def _user(text: str, seed: int = 0) -> dict:
    image = data_url(image_bytes(320, 240, fmt="PNG", seed=seed), "image/png")
    return {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": image}}, {"type": "text", "text": text}],
    }


def test_parse_with_pydantic_model_returns_a_validated_object(client: OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="grok-4", messages=[_user("Read this receipt.")], response_format=Receipt, max_tokens=200, seed=1
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(message.parsed, Receipt)
    assert Receipt.model_validate_json(message.content or "") == message.parsed
    assert completion.usage is not None and completion.usage.prompt_tokens_details.image_tokens == 256


def test_json_object_returns_json(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="grok-4",
        messages=[_user("Describe the image as JSON.")],
        response_format={"type": "json_object"},
        max_tokens=400,
        seed=3,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert isinstance(json.loads(choice.message.content or ""), dict)


@pytest.mark.parametrize("stream", [False, True])
def test_required_tool_call_and_follow_up_with_the_result(client: OpenAI, stream: bool) -> None:
    messages = [_user("What's the weather where this photo was taken?", seed=5)]
    kwargs = {"model": "grok-4", "tools": [WEATHER_TOOL], "tool_choice": "required", "max_tokens": 120, "seed": 7}
    if stream:
        name, arguments, call_id, finish = "", "", "", None
        for chunk in client.chat.completions.create(messages=messages, stream=True, **kwargs):
            for choice in chunk.choices:
                for piece in choice.delta.tool_calls or []:
                    assert piece.index == 0
                    call_id = piece.id or call_id
                    name += piece.function.name or "" if piece.function else ""
                    arguments += piece.function.arguments or "" if piece.function else ""
                finish = choice.finish_reason or finish
    else:
        completion = client.chat.completions.create(messages=messages, **kwargs)
        choice = completion.choices[0]
        finish = choice.finish_reason
        assert choice.message.content is None
        (call,) = choice.message.tool_calls or []
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
    assert finish == "tool_calls"
    assert name == "get_weather" and call_id.startswith("call_")
    Weather.model_validate_json(arguments)

    # The caller runs the tool and continues the conversation with its result.
    messages += [
        {
            "role": "assistant",
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
        },
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps({"temperature": 21})},
    ]
    follow = client.chat.completions.create(model="grok-4", messages=messages, tools=[WEATHER_TOOL], max_tokens=5)
    assert follow.choices[0].finish_reason in ("stop", "length", "tool_calls")
    assert follow.usage is not None and follow.usage.prompt_tokens_details.image_tokens == 256


def test_named_function_is_called(client: OpenAI) -> None:
    other = {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}
    completion = client.chat.completions.create(
        model="grok-4",
        messages=[_user("Weather?")],
        tools=[other, WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=120,
        seed=2,
    )
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    Weather.model_validate_json(call.function.arguments)


def test_unsupported_schema_keyword_is_a_400_naming_it(client: OpenAI) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "if": {"required": ["a"]}}
    with pytest.raises(BadRequestError) as caught:
        client.chat.completions.create(
            model="grok-4",
            messages=[_user("Hi")],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
    body = caught.value.response.json()
    assert body["code"] == "unsupported_schema" and body["param"] == "response_format.json_schema.schema"
    assert '"if"' in body["error"]


def test_bad_tool_requests_are_400s(http: httpx.Client) -> None:
    base = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]}
    cases = [
        ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "nope"),
        ({"tool_choice": "required"}, "no tools"),
        ({"tools": [WEATHER_TOOL] * 2}, "unique"),
        ({"tools": [{"type": "web_search"}]}, "function tools only"),
        ({"tools": [WEATHER_TOOL] * 129}, "limit is 128"),
        ({"response_format": {"type": "yaml"}}, "json_schema"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
    ]
    for extra, needle in cases:
        response = http.post("/v1/chat/completions", json={**base, **extra})
        assert response.status_code == 400, (extra, response.text)
        assert needle in response.json()["error"], response.text
    big = {"type": "object", "description": "x" * 70_000}
    response = http.post(
        "/v1/chat/completions",
        json={**base, "response_format": {"type": "json_schema", "json_schema": {"name": "b", "schema": big}}},
    )
    assert response.status_code == 400 and "65536 bytes" in response.json()["error"]


def test_oculi_lite_refuses_structured_output(client: OpenAI) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.chat.completions.create(
            model="oculi-lite", messages=[_user("Read it.")], response_format={"type": "json_object"}
        )
    error = caught.value.response.json()["error"]
    assert "oculi-lite cannot follow a response format" in error and "tiny-internvl" in error


def test_eight_concurrent_requests_mixing_schema_text_and_tools(client: OpenAI) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> None:
        messages = [_user("Look at this.", seed=20 + i)]
        if i % 3 == 0:
            parsed = client.chat.completions.parse(
                model="grok-4", messages=messages, response_format=Receipt, max_tokens=200, seed=i
            )
            assert isinstance(parsed.choices[0].message.parsed, Receipt)
        elif i % 3 == 1:
            plain = client.chat.completions.create(model="grok-4", messages=messages, max_tokens=8, seed=i)
            assert plain.choices[0].message.tool_calls is None
        else:
            called = client.chat.completions.create(
                model="grok-4", messages=messages, tools=[WEATHER_TOOL], tool_choice="required", max_tokens=120, seed=i
            )
            (call,) = called.choices[0].message.tool_calls or []
            Weather.model_validate_json(call.function.arguments)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(8)))


def test_deferred_completion_keeps_its_schema(client: OpenAI, vlm_server: ServerProcess) -> None:
    """A deferred request runs later as a durable job: its response_format must travel with it."""
    import time

    body = {
        "model": "grok-4",
        "messages": [_user("Read this receipt.")],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "receipt", "schema": Receipt.model_json_schema(), "strict": True},
        },
        "max_tokens": 200,
        "seed": 1,
        "deferred": True,
    }
    with httpx.Client(base_url=vlm_server.base_url, headers={"authorization": f"Bearer {KEY}"}, timeout=60) as http:
        request_id = http.post("/v1/chat/completions", json=body).json()["request_id"]
        deadline = time.monotonic() + 120
        while (poll := http.get(f"/v1/chat/deferred-completion/{request_id}")).status_code == 202:
            assert time.monotonic() < deadline, "deferred completion never finished"
            time.sleep(0.2)
    assert poll.status_code == 200, poll.text
    choice = poll.json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    Receipt.model_validate_json(choice["message"]["content"])
