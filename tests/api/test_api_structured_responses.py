"""Structured outputs and function calls on the Responses API, with images, through the openai client."""

from __future__ import annotations

import json

import pytest
from api_support import KEY, data_url, image_bytes
from openai import BadRequestError, OpenAI
from structured_models import WEATHER_RESPONSES_TOOL, Receipt, Weather

from oculi.testing.server import ServerProcess


@pytest.fixture
def client(vlm_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=vlm_server.v1, api_key=KEY, max_retries=0, timeout=120)


def _input(text: str, seed: int = 0) -> list:
    image = data_url(image_bytes(320, 240, fmt="PNG", seed=seed), "image/png")
    content = [{"type": "input_image", "image_url": image}, {"type": "input_text", "text": text}]
    return [{"role": "user", "content": content}]


def test_parse_with_text_format_returns_a_validated_object(client: OpenAI) -> None:
    response = client.responses.parse(
        model="grok-4", input=_input("Read this receipt."), text_format=Receipt, max_output_tokens=200
    )
    assert response.status == "completed"
    assert isinstance(response.output_parsed, Receipt)
    assert response.text.format.type == "json_schema"
    assert response.usage is not None and response.usage.input_tokens_details.image_tokens == 256  # type: ignore[attr-defined]
    stored = client.responses.retrieve(response.id)
    assert Receipt.model_validate_json(stored.output_text) == response.output_parsed


def test_streamed_json_schema_output(client: OpenAI) -> None:
    schema = Receipt.model_json_schema()
    with client.responses.stream(
        model="grok-4",
        input=_input("Read this receipt.", seed=2),
        text={"format": {"type": "json_schema", "name": "receipt", "schema": schema, "strict": True}},
        max_output_tokens=200,
    ) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    Receipt.model_validate_json(text)
    assert final.output_text == text


@pytest.mark.parametrize("stream", [False, True])
def test_required_function_call_then_continue_with_its_output(client: OpenAI, stream: bool) -> None:
    kwargs = {"model": "grok-4", "tools": [WEATHER_RESPONSES_TOOL], "tool_choice": "required", "max_output_tokens": 120}
    if stream:
        types = []
        with client.responses.stream(input=_input("Weather where this was taken?", seed=4), **kwargs) as events:
            for event in events:
                types.append(event.type)
            response = events.get_final_response()
        assert types[-5:] == [
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    else:
        response = client.responses.create(input=_input("Weather where this was taken?", seed=4), **kwargs)
    (call,) = [item for item in response.output if item.type == "function_call"]
    assert call.name == "get_weather" and response.status == "completed"
    Weather.model_validate_json(call.arguments)

    follow = client.responses.create(
        model="grok-4",
        previous_response_id=response.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"celsius": 21})}],
        tools=[WEATHER_RESPONSES_TOOL],
        max_output_tokens=5,
    )
    assert follow.status in ("completed", "incomplete")
    # The stored conversation still holds the image: its tokens are counted again.
    assert follow.usage is not None and follow.usage.input_tokens_details.image_tokens == 256  # type: ignore[attr-defined]


def test_function_call_items_in_input_without_previous_response(client: OpenAI) -> None:
    args = json.dumps({"city": "Oslo", "unit": "c"})
    response = client.responses.create(
        model="grok-4",
        input=[
            *_input("Weather?"),
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": args},
            {"type": "function_call_output", "call_id": "call_1", "output": "21 C"},
        ],
        tools=[WEATHER_RESPONSES_TOOL],
        max_output_tokens=4,
    )
    assert response.status in ("completed", "incomplete")


def test_unsupported_keyword_in_text_format_is_a_400(client: OpenAI) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "format": "hostname-ish"}}}
    with pytest.raises(BadRequestError) as caught:
        client.responses.create(
            model="grok-4",
            input="hi",
            text={"format": {"type": "json_schema", "name": "x", "schema": schema}},
        )
    body = caught.value.response.json()
    assert body["param"] == "text.format.schema" and "hostname-ish" in body["error"]
