"""The proto ↔ domain translation on its own (no server): what the wire tests cannot pin down cheaply."""

from __future__ import annotations

import pytest
from xai_sdk.chat import assistant, file, image, system, tool, user
from xai_sdk.proto import chat_pb2, image_pb2, sample_pb2

from oculi.domain import Delta, Detail, FinishReason, ImagePart, Role, TextPart, Usage
from oculi.errors import ImageError, InvalidRequest
from oculi.grpc.mapper import ChunkWriter, to_generation_request


def translate(*messages: chat_pb2.Message, **fields: object):
    request = chat_pb2.GetCompletionsRequest(model="grok-4", messages=list(messages), **fields)
    return to_generation_request(request, owner="o", request_id="r1")


def test_messages_parts_and_details_in_order() -> None:
    raw_unset = chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url="data:b"))
    generation = translate(
        system("Be brief."),
        user("look", image("http://x/a.png", detail="high"), "and", raw_unset),
        assistant("ok"),
    )
    first, second, third = generation.conversation.messages
    assert (first.role, second.role, third.role) == (Role.SYSTEM, Role.USER, Role.ASSISTANT)
    assert second.parts == [
        TextPart("look"),
        ImagePart("http://x/a.png", Detail.HIGH),
        TextPart("and"),
        ImagePart("data:b", Detail.AUTO),  # detail left unset (proto3 0) means auto
    ]
    assert (generation.id, generation.owner, generation.surface) == ("r1", "o", "grpc")
    assert generation.store is False and generation.previous_response_id is None


def test_sampling_fields_keep_their_presence() -> None:
    defaults = translate(user("hi")).params
    assert (defaults.max_tokens, defaults.temperature, defaults.top_p, defaults.seed, defaults.n) == (
        None,
        1.0,
        1.0,
        None,
        1,
    )
    # An explicit 0 is a value, not "unset": greedy decoding must stay greedy.
    params = translate(user("hi"), temperature=0.0, max_tokens=7, seed=0, top_p=0.5, n=2, stop=["x"]).params
    assert (params.temperature, params.max_tokens, params.seed, params.top_p, params.n, params.stop) == (
        0.0,
        7,
        0,
        0.5,
        2,
        ["x"],
    )
    continued = translate(user("hi"), previous_response_id="prev", store_messages=True)
    assert continued.previous_response_id == "prev" and continued.store is True


@pytest.mark.parametrize(
    ("message", "fields", "param"),
    [
        (chat_pb2.Message(role=chat_pb2.MessageRole.ROLE_FUNCTION, content=[chat_pb2.Content(text="x")]), {}, "role"),
        (chat_pb2.Message(role=chat_pb2.MessageRole.INVALID_ROLE), {}, "role"),
        (user(chat_pb2.Content(file=chat_pb2.FileContent())), {}, "content[0].file"),
        (user("hi"), {"tools": [tool("f", "d", {"type": "object"}), chat_pb2.Tool(mcp=chat_pb2.MCP())]}, "tools[1]"),
        (user("hi"), {"tools": [tool("bad name", "d", {"type": "object"})]}, "tools[0].function.name"),
        (user("hi"), {"logprobs": True}, "logprobs"),
        (user("hi"), {"frequency_penalty": 0.5}, "frequency_penalty"),
    ],
)
def test_unsupported_input_is_refused_naming_the_field(message, fields, param) -> None:
    with pytest.raises(InvalidRequest) as caught:
        translate(message, **fields)
    assert param in (caught.value.param or "")
    assert caught.value.grpc_status == "INVALID_ARGUMENT"


def test_file_contents_become_image_parts() -> None:
    by_id = chat_pb2.Content(image_url=image_pb2.ImageUrlContent(file_id="file-2", detail=image_pb2.DETAIL_LOW))
    request = translate(user("look", file("file-1"), by_id, file(data=b"\x89PNG", mime_type="image/png")))
    parts = request.conversation.images()
    assert [p.file_id for p in parts] == ["file-1", "file-2", None]
    assert parts[1].detail is Detail.LOW
    assert parts[2].url == "data:image/png;base64,iVBORw=="


def test_bad_detail_names_the_image_index() -> None:
    bad = chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url="data:b", detail=9))
    with pytest.raises(ImageError) as caught:
        translate(user(image("data:a")), user("second", bad))
    assert caught.value.index == 1
    assert caught.value.param == "messages[1].content[1].image_url.detail"
    assert "DETAIL_LOW" in caught.value.message


def test_missing_model_is_invalid() -> None:
    with pytest.raises(InvalidRequest, match="model"):
        to_generation_request(chat_pb2.GetCompletionsRequest(messages=[user("hi")]), owner="", request_id="r")


def test_chunks_repeat_role_and_id_and_the_last_carries_finish_and_usage() -> None:
    writer = ChunkWriter("resp-1", "m", 1_700_000_000, n=2)
    usage = Usage(prompt_text_tokens=3, prompt_image_tokens=256, completion_tokens=3)
    deltas = [
        Delta(0, "a"),
        Delta(0, ""),  # nothing to send
        Delta(0, "b", FinishReason.STOP),
        Delta(1, "c", FinishReason.LENGTH),
        Delta(1, "", usage=usage),  # the final delta: usage, no finish reason of its own
    ]
    chunks = [c for c in map(writer.chunk, deltas) if c is not None]
    assert len(chunks) == 4
    for chunk in chunks:
        assert chunk.id == "resp-1" and chunk.model == "m" and chunk.created.seconds == 1_700_000_000
        assert all(o.delta.role == chat_pb2.MessageRole.ROLE_ASSISTANT for o in chunk.outputs)
    assert [o.delta.content for c in chunks for o in c.outputs] == ["a", "b", "c", "", ""]
    last = chunks[-1]
    assert {o.index: o.finish_reason for o in last.outputs} == {
        0: sample_pb2.REASON_STOP,
        1: sample_pb2.REASON_MAX_LEN,
    }
    assert (last.usage.prompt_tokens, last.usage.prompt_image_tokens, last.usage.total_tokens) == (259, 256, 262)
    assert not chunks[0].HasField("usage")
