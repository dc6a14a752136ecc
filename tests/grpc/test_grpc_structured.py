"""Structured outputs and function calling over gRPC with the real xai-sdk: chat.parse, tool(...), tool_result(...)."""

from __future__ import annotations

import json

import pytest
from structured_models import Receipt, Weather
from xai_sdk import Client
from xai_sdk.chat import image, tool, tool_result, user
from xai_sdk.proto import chat_pb2, sample_pb2

WEATHER = tool("get_weather", "Weather for a city", Weather.model_json_schema())


@pytest.fixture(scope="module")
def client(oculi_server):
    with Client(api_key=oculi_server.api_key, api_host=oculi_server.api_host, timeout=120) as c:
        yield c


def test_chat_parse_with_an_image_returns_a_validated_instance(client, image_server) -> None:
    chat = client.chat.create(model="grok-4", max_tokens=200)
    chat.append(user("Read this receipt.", image(image_server.images["small.png"].data_url, detail="low")))
    response, receipt = chat.parse(Receipt)
    assert isinstance(receipt, Receipt)
    assert response.finish_reason == "REASON_STOP"
    assert response.usage.prompt_image_tokens == 256


def test_json_object_format(client) -> None:
    chat = client.chat.create(model="grok-4", max_tokens=400, response_format="json_object", seed=3)
    chat.append(user("Describe it as JSON."))
    response = chat.sample()
    assert isinstance(json.loads(response.content), dict)


@pytest.mark.parametrize("stream", [False, True])
def test_required_tool_call_then_tool_result_continues_the_stored_conversation(client, image_server, stream) -> None:
    photo = image_server.images["small.png"]
    chat = client.chat.create(
        model="grok-4", max_tokens=120, tools=[WEATHER], tool_choice="required", store_messages=True
    )
    chat.append(user("What's the weather where this was taken?", image(photo.url, detail="low")))
    if stream:
        chunks = list(chat.stream())
        assert any(chunk.tool_calls for _, chunk in chunks)
        response = chunks[-1][0]
    else:
        response = chat.sample()
    assert response.finish_reason == "REASON_TOOL_CALLS"
    (call,) = response.tool_calls
    assert call.function.name == "get_weather"
    Weather.model_validate_json(call.function.arguments)

    follow = client.chat.create(model="grok-4", max_tokens=6, tools=[WEATHER], previous_response_id=response.id)
    follow.append(tool_result(json.dumps({"celsius": 21}), tool_call_id=call.id))
    answer = follow.sample()
    assert answer.usage.prompt_image_tokens == 256  # the stored turn's image is still there


def test_the_sdk_appends_a_tool_call_response_back(client) -> None:
    chat = client.chat.create(model="grok-4", max_tokens=120, tools=[WEATHER], tool_choice="required")
    chat.append(user("Weather in Oslo?"))
    response = chat.sample()
    chat.append(response)  # the assistant turn with its tool_calls
    chat.append(tool_result("21 C", tool_call_id=response.tool_calls[0].id))
    chat.proto.tool_choice.CopyFrom(chat_pb2.ToolChoice(mode=chat_pb2.ToolMode.TOOL_MODE_NONE))
    chat.proto.max_tokens = 4
    assert chat.sample().proto.outputs[0].finish_reason in (
        sample_pb2.FinishReason.REASON_STOP,
        sample_pb2.FinishReason.REASON_MAX_LEN,
    )
