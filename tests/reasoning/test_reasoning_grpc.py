"""xai-sdk (gRPC, proto v6) on a thinking model: reasoning_content, reasoning_tokens, effort, encrypted content."""

from __future__ import annotations

import grpc
import pytest
import xai_sdk
from reasoning_support import BUDGET, KEY, picture_url
from xai_sdk.chat import image, user

from oculi.testing.server import ServerProcess


@pytest.fixture
def xai(thinking_server: ServerProcess) -> xai_sdk.Client:
    return xai_sdk.Client(api_host=thinking_server.grpc_address, api_key=KEY)


def question() -> object:
    return user("What is in the picture?", image(picture_url()))


def test_sample_splits_reasoning_and_counts_it(xai: xai_sdk.Client) -> None:
    chat = xai.chat.create(model="grok-4", messages=[question()], max_tokens=24, temperature=0, reasoning_effort="low")
    response = chat.sample()
    assert response.reasoning_content and response.content
    assert "</think>" not in response.reasoning_content + response.content
    assert response.usage.reasoning_tokens == BUDGET


def test_stream_carries_reasoning_chunks(xai: xai_sdk.Client) -> None:
    whole = xai.chat.create(model="grok-4", messages=[question()], max_tokens=24, temperature=0, reasoning_effort="low")
    expected = whole.sample()
    chat = xai.chat.create(model="grok-4", messages=[question()], max_tokens=24, temperature=0, reasoning_effort="low")
    pieces, response = [], None
    for latest, chunk in chat.stream():
        pieces.append(chunk.reasoning_content)
        response = latest
    assert response is not None
    assert "".join(pieces) == expected.reasoning_content
    assert response.reasoning_content == expected.reasoning_content
    assert response.content == expected.content
    assert response.usage.reasoning_tokens == BUDGET


def test_cut_inside_thinking_has_empty_content(xai: xai_sdk.Client) -> None:
    response = xai.chat.create(model="grok-4", messages=[question()], max_tokens=5, temperature=0).sample()
    assert response.content == "" and response.reasoning_content
    assert response.finish_reason == "REASON_MAX_LEN"
    assert response.usage.reasoning_tokens == 5


def test_effort_none_and_encrypted_content_round_trip(xai: xai_sdk.Client) -> None:
    off = xai.chat.create(model="grok-4", messages=[question()], max_tokens=6, temperature=0, reasoning_effort="none")
    answer = off.sample()
    assert answer.reasoning_content == "" and answer.content and answer.usage.reasoning_tokens == 0

    chat = xai.chat.create(
        model="grok-4",
        messages=[question()],
        max_tokens=16,
        temperature=0,
        reasoning_effort="low",
        use_encrypted_content=True,
    )
    response = chat.sample()
    assert response.encrypted_content
    streamed = xai.chat.create(
        model="grok-4",
        messages=[question()],
        max_tokens=16,
        temperature=0,
        reasoning_effort="low",
        use_encrypted_content=True,
    )
    final = [response for response, _chunk in streamed.stream()][-1]
    assert final.encrypted_content == response.encrypted_content  # same reasoning, same signature
    chat.append(response)
    chat.append(user("And the colours?"))
    assert chat.sample().reasoning_content  # the continuation thinks again


def test_tampered_encrypted_content_is_invalid_argument(xai: xai_sdk.Client) -> None:
    from xai_sdk.chat import assistant

    tampered = assistant("hi")
    tampered.encrypted_content = "bm90IGEgYmxvYg.c2lnbmF0dXJl"
    chat = xai.chat.create(model="grok-4", messages=[question(), tampered, user("more")], max_tokens=4)
    with pytest.raises(grpc.RpcError) as info:
        chat.sample()
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "encrypted" in (info.value.details() or "")


def test_batch_request_with_a_signed_blob_is_verified_like_a_live_request(xai: xai_sdk.Client) -> None:
    import time

    from xai_sdk.chat import assistant

    first = xai.chat.create(
        model="grok-4",
        messages=[question()],
        max_tokens=16,
        temperature=0,
        reasoning_effort="low",
        use_encrypted_content=True,
    ).sample()
    assert first.encrypted_content
    chats = []
    for key, blob in (("signed", first.encrypted_content), ("tampered", "bm90IGEgYmxvYg.c2lnbmF0dXJl")):
        turn = assistant(first.content)
        turn.encrypted_content = blob
        chat = xai.chat.create(model="grok-4", max_tokens=4, temperature=0, batch_request_id=key)
        for message in (question(), turn, user("And the colours?")):
            chat.append(message)
        chats.append(chat)
    batch = xai.batch.create("reasoning blobs")
    xai.batch.add(batch.batch_id, chats)
    deadline = time.monotonic() + 120
    while (state := xai.batch.get(batch.batch_id).state).num_pending:
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert (state.num_success, state.num_error) == (1, 1)
    by_key = {r.batch_request_id: r for r in xai.batch.list_batch_results(batch.batch_id).results}
    assert by_key["signed"].is_success and by_key["signed"].response.usage.completion_tokens > 0
    assert "encrypted" in (by_key["tampered"].error_message or "")  # refused naming the blob, as live
