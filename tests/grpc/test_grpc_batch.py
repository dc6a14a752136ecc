"""``client.batch.*`` of the real xai-sdk against ``oculi serve`` (oculi-lite): 200 image requests, cancel.

Every batch result is compared with what the same request gets when sent
directly (``chat.sample()``): answers and usage must be identical, and a bad
request's error must carry the same gRPC status and message as the direct
call's error.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
import xai_sdk
from servers import KEY
from servers import OTHER_KEY as OTHER
from xai_sdk.chat import file, image, user
from xai_sdk.proto import batch_pb2

from oculi.testing.server import ServerProcess

GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
QUESTIONS = ("What colours are in this picture?", "What does the sign say?")


@pytest.fixture(scope="module")
def client(lite_server: ServerProcess) -> xai_sdk.Client:
    return xai_sdk.Client(api_host=lite_server.grpc_address, api_key=KEY)


def sources(image_server: Any, client: xai_sdk.Client | None = None) -> list[str]:
    """Three images by URL, the same three inline (base64), and (with ``client``) uploaded as files."""
    images = list(image_server.images.values())
    uploaded = [client.files.upload(i.data, filename=f"picture-{n}").id for n, i in enumerate(images)] if client else []
    return [i.url for i in images] + [i.data_url for i in images] + uploaded


def chat(client: xai_sdk.Client, url: str, question: str, key: str | None = None, **options: Any) -> Any:
    conversation = client.chat.create(model="grok-4", batch_request_id=key, **options)
    content = file(url) if url.startswith("file-") else image(url, detail="high")
    conversation.append(user(question, content))
    return conversation


def wait_finished(client: xai_sdk.Client, batch_id: str, timeout: float = 120) -> batch_pb2.Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batch.get(batch_id)
        if batch.state.num_pending == 0:
            return batch
        assert time.monotonic() < deadline, f"batch still has {batch.state.num_pending} pending requests"
        time.sleep(0.3)


def all_results(client: xai_sdk.Client, batch_id: str, limit: int = 64) -> list[Any]:
    results, token = [], None
    while True:
        page = client.batch.list_batch_results(batch_id, limit=limit, pagination_token=token)
        results += page.results
        token = page.pagination_token
        if token is None:
            return results


def test_200_image_requests_give_exact_per_request_results_and_errors(
    client: xai_sdk.Client, image_server: Any
) -> None:
    urls = sources(image_server, client)
    bad = {  # how some requests go wrong: each fails like the same direct call does
        "gif": (GIF, {}),
        "missing": (image_server.base + "/missing.png", {}),
        "logprobs": (urls[0], {"logprobs": True}),
        "no file": ("file-does-not-exist", {}),
    }
    plan: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for i in range(200):
        if i % 25 == 7:
            kind = list(bad)[(i // 25) % len(bad)]
            plan[f"r{i:03d}"] = (bad[kind][0], QUESTIONS[0], bad[kind][1])
        else:
            plan[f"r{i:03d}"] = (urls[i % len(urls)], QUESTIONS[i % 2], {})

    batch = client.batch.create("two hundred")
    requests = [chat(client, url, q, key, **opts) for key, (url, q, opts) in plan.items()]
    client.batch.add(batch.batch_id, requests[:120])
    client.batch.add(batch.batch_id, requests[120:])
    finished = wait_finished(client, batch.batch_id)
    assert finished.state.num_requests == 200
    assert finished.state.num_success == 192 and finished.state.num_error == 8

    direct: dict[tuple[str, str, str], Any] = {}
    for url, question, options in plan.values():
        signature = (url, question, repr(options))
        if signature not in direct:
            try:
                direct[signature] = chat(client, url, question, **options).sample()
            except grpc.RpcError as exc:
                direct[signature] = exc
    results = all_results(client, batch.batch_id)
    assert sorted(r.batch_request_id for r in results) == sorted(plan)
    for result in results:
        url, question, options = plan[result.batch_request_id]
        expected = direct[(url, question, repr(options))]
        if isinstance(expected, grpc.RpcError):
            assert result.has_error, result.batch_request_id
            assert result.proto.error.code == expected.code().value[0]
            assert result.error_message == expected.details()
        else:
            assert result.is_success, (result.batch_request_id, result.error_message)
            assert result.response.content == expected.content
            assert result.response.usage == expected.usage
            assert result.response.usage.prompt_image_tokens > 0

    one = client.batch._stub.GetBatchRequestResult(
        batch_pb2.GetBatchRequestResultRequest(batch_id=batch.batch_id, batch_request_id="r007"),
        metadata=(("authorization", f"Bearer {KEY}"),),
    )
    assert one.request.batch_request_id == "r007" and one.result.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    failed = client.batch.list_batch_requests(batch.batch_id)
    states = {m.batch_request_id: m.state for m in failed.batch_request_metadata}
    assert states["r007"] == batch_pb2.BatchRequestMetadata.STATE_FAILED
    assert states["r000"] == batch_pb2.BatchRequestMetadata.STATE_SUCCEEDED
    assert any(b.batch_id == batch.batch_id for b in client.batch.list().batches)


def test_cancel_mid_way_stops_pending_requests(client: xai_sdk.Client, image_server: Any) -> None:
    urls = sources(image_server)
    batch = client.batch.create("to cancel")
    client.batch.add(batch.batch_id, [chat(client, urls[i % len(urls)], QUESTIONS[0], f"c{i}") for i in range(300)])
    cancelled = client.batch.cancel(batch.batch_id)
    assert cancelled.cancel_time.seconds > 0
    final = wait_finished(client, batch.batch_id)
    state = final.state
    assert state.num_cancelled > 0, "the batch finished before it could be cancelled"
    assert state.num_success + state.num_error + state.num_cancelled == state.num_requests == 300
    assert len(all_results(client, batch.batch_id)) == state.num_success + state.num_error
    listed = client.batch.list_batch_requests(
        batch.batch_id, limit=1000
    )  # every request is listed, cancelled ones as such
    cancelled_ids = [
        m.batch_request_id
        for m in listed.batch_request_metadata
        if m.state == batch_pb2.BatchRequestMetadata.STATE_CANCELLED
    ]
    assert len(cancelled_ids) == state.num_cancelled
    with pytest.raises(grpc.RpcError) as refused:
        client.batch.add(batch.batch_id, [chat(client, urls[0], QUESTIONS[0])])
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_batches_belong_to_their_key(client: xai_sdk.Client, lite_server: ServerProcess) -> None:
    batch = client.batch.create("mine")
    other = xai_sdk.Client(api_host=lite_server.grpc_address, api_key=OTHER)
    for call in (lambda: other.batch.get(batch.batch_id), lambda: other.batch.cancel(batch.batch_id)):
        with pytest.raises(grpc.RpcError) as missing:
            call()
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert all(b.batch_id != batch.batch_id for b in other.batch.list().batches)


def test_batch_from_an_uploaded_jsonl_file(client: xai_sdk.Client, image_server: Any) -> None:
    import json

    picture = next(iter(image_server.images.values()))
    chat_body = {
        "model": "grok-4",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": picture.url}}]}],
    }
    responses_body = {
        "model": "grok-4",
        "input": [{"role": "user", "content": [{"type": "input_image", "image_url": picture.data_url}]}],
    }
    lines = [
        {"custom_id": "chat", "method": "POST", "url": "/v1/chat/completions", "body": chat_body},
        {"custom_id": "responses", "method": "POST", "url": "/v1/responses", "body": responses_body},
        {
            "custom_id": "bad",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
        },
    ]
    upload = client.files.upload("\n".join(json.dumps(line) for line in lines).encode(), filename="requests.jsonl")
    batch = client.batch.create("from a file", input_file_id=upload.id)
    assert batch.state.num_requests == 3
    wait_finished(client, batch.batch_id)
    results = {r.batch_request_id: r for r in all_results(client, batch.batch_id)}
    direct = chat(client, picture.url, "").sample()
    assert results["chat"].response.content == direct.content
    assert results["responses"].response.usage.prompt_image_tokens == direct.usage.prompt_image_tokens
    assert results["bad"].proto.error.code == grpc.StatusCode.NOT_FOUND.value[0]
    with pytest.raises(grpc.RpcError) as sealed:
        client.batch.add(batch.batch_id, [chat(client, picture.url, "more")])
    assert sealed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    broken = client.files.upload(b'{"custom_id": "x", "url": "/v1/embeddings", "body": {}}\n', filename="bad.jsonl")
    with pytest.raises(grpc.RpcError) as refused:
        client.batch.create("broken", input_file_id=broken.id)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "Line 1" in refused.value.details()
