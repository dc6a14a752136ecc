"""What a real model cannot be made to do on demand, over gRPC: fail mid-stream, run slowly, answer n choices.

The server is the suite's shared scripted server (``tests/servers.py``): directives in the
last user message pick its behaviour, and it logs every cancellation with the request id,
which is also the gRPC response id.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator

import grpc
import pytest
from servers import KEY as API_KEY
from servers import SCRIPTED_MAX_QUEUE as MAX_QUEUE
from xai_sdk import Client
from xai_sdk.chat import user
from xai_sdk.proto import chat_pb2, chat_pb2_grpc, sample_pb2

from oculi.testing.server import ServerProcess

METADATA = (("authorization", f"Bearer {API_KEY}"),)


@pytest.fixture(scope="module")
def scripted(scripted_server: ServerProcess) -> ServerProcess:
    # The shared scripted server: at most MAX_QUEUE generations at once, so the overload test can fill it.
    return scripted_server


@pytest.fixture(scope="module")
def client(scripted: ServerProcess) -> Iterator[Client]:
    with Client(api_key=API_KEY, api_host=f"localhost:{scripted.grpc_port}", timeout=60) as c:
        yield c


def wait_for_log(server: ServerProcess, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log_text():
        assert time.monotonic() < deadline, f"{text!r} not in the server log:\n{server.log_text()[-3000:]}"
        time.sleep(0.05)


def test_failure_mid_stream_is_internal_with_only_the_request_id(client) -> None:
    chat = client.chat.create(model="grok-4")
    chat.append(user("Go [[tokens:10]] [[fail-after:3]]"))
    received = []
    with pytest.raises(grpc.RpcError) as caught:
        for _, chunk in chat.stream():
            received.append(chunk.content)
    error = caught.value
    assert "".join(received) == "word0 word1 word2 "
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "request id" in error.details()
    assert "scripted failure" not in error.details() and "RuntimeError" not in error.details()


def test_failed_deferred_request_reports_the_failure(client) -> None:
    chat = client.chat.create(model="grok-4")
    chat.append(user("Go [[fail-after:1]]"))
    with pytest.raises(grpc.RpcError) as caught:
        chat.defer(timeout=datetime.timedelta(seconds=30), interval=datetime.timedelta(milliseconds=20))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "failed" in caught.value.details()
    assert "scripted failure" not in caught.value.details()


def test_pending_deferred_request_is_polled_until_done(client) -> None:
    chat = client.chat.create(model="grok-4")
    chat.append(user("Slowly [[tokens:4]] [[delay:0.1]]"))
    response = chat.defer(timeout=datetime.timedelta(seconds=30), interval=datetime.timedelta(milliseconds=20))
    assert response.content == "word0 word1 word2 word3"
    assert response.usage.completion_tokens == 4


def test_client_that_cancels_a_stream_stops_the_engine(scripted) -> None:
    request = chat_pb2.GetCompletionsRequest(model="grok-4", messages=[user("Long [[tokens:1000]] [[delay:0.02]]")])
    with grpc.insecure_channel(f"127.0.0.1:{scripted.grpc_port}") as channel:
        stream = chat_pb2_grpc.ChatStub(channel).GetCompletionChunk(request, metadata=METADATA, timeout=60)
        first = next(stream)
        stream.cancel()
    wait_for_log(scripted, f"scripted engine: {first.id} cancelled after")


def test_client_that_gives_up_on_a_unary_call_stops_the_engine(scripted) -> None:
    request = chat_pb2.GetCompletionsRequest(model="grok-4", messages=[user("Long [[tokens:1000]] [[delay:0.02]]")])
    with grpc.insecure_channel(f"127.0.0.1:{scripted.grpc_port}") as channel:
        stub = chat_pb2_grpc.ChatStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetCompletion.with_call(request, metadata=METADATA, timeout=0.5)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        request_id = dict(caught.value.initial_metadata())["x-request-id"]
    wait_for_log(scripted, f"scripted engine: {request_id} cancelled after")


def test_n_choices_unary_and_streamed(client) -> None:
    chat = client.chat.create(model="grok-4", max_tokens=3)
    chat.append(user("Two answers [[tokens:5]]"))
    with pytest.warns(PendingDeprecationWarning):
        answers = chat.sample_batch(2)
    assert [a.content for a in answers] == ["word0 word1 word2"] * 2
    assert [a.proto.outputs[i].index for i, a in enumerate(answers)] == [0, 1]
    assert {a.finish_reason for a in answers} == {"REASON_MAX_LEN"}

    with pytest.warns(PendingDeprecationWarning):
        streamed = list(chat.stream_batch(2))
    responses, _ = streamed[-1]
    assert [r.content for r in responses] == ["word0 word1 word2"] * 2
    last = streamed[-1][1][0].proto
    assert sorted(o.index for o in last.outputs) == [0, 1]
    assert all(o.finish_reason == sample_pb2.REASON_MAX_LEN for o in last.outputs)
    assert last.usage.completion_tokens == 6
    for _, chunks in streamed:
        proto = chunks[0].proto
        assert proto.id == responses[0].id
        assert all(o.delta.role == chat_pb2.MessageRole.ROLE_ASSISTANT for o in proto.outputs)


def test_overloaded_server_is_resource_exhausted_not_unavailable(scripted) -> None:
    slow = chat_pb2.GetCompletionsRequest(model="grok-4", messages=[user("Long [[tokens:1000]] [[delay:0.02]]")])
    with grpc.insecure_channel(f"127.0.0.1:{scripted.grpc_port}") as channel:
        stub = chat_pb2_grpc.ChatStub(channel)
        running = [stub.GetCompletionChunk(slow, metadata=METADATA, timeout=60) for _ in range(MAX_QUEUE)]
        ids = [next(stream).id for stream in running]
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetCompletion(slow, metadata=METADATA, timeout=30)
        # RESOURCE_EXHAUSTED: the xai-sdk client does not blindly retry it (it retries UNAVAILABLE).
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "capacity" in caught.value.details()
        assert ("retry-after", "1") in caught.value.trailing_metadata()
        for stream in running:
            stream.cancel()
    for request_id in ids:
        wait_for_log(scripted, f"scripted engine: {request_id} cancelled after")
