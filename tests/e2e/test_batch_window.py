"""A batch's completion window means what it says, on REST and gRPC (issue 25).

One real server (the scripted engine: each request takes about a second,
four run at once) whose window is 4 s instead of 24 h
(``OCULI_BATCH_WINDOW_SECONDS``). A batch of 40 requests cannot finish in
it: the requests that finished keep their results, those running at the
deadline finish, the rest end ``expired`` without ever running, the counts
say which, and no request runs twice (the server's log names every job
it finished, once; an expired job's id never appears in it).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import xai_sdk
from openai import OpenAI
from servers import KEY
from xai_sdk.chat import user
from xai_sdk.proto import batch_pb2

from oculi.testing.server import ServerProcess, running_server

WINDOW_S = 4
REQUESTS = 40
SLOW = "[[tokens:2]] [[delay:0.5]]"  # about a second per request
CHAT = "/v1/chat/completions"
FINISHED = re.compile(r"job (\S+) \(batch\) (?:succeeded|failed) by worker-")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    env = {"OCULI_BATCH_WINDOW_SECONDS": str(WINDOW_S), "OCULI_JOB_POLL_SECONDS": "0.2", "OCULI_MAX_BATCH_SIZE": "8"}
    with running_server(api_keys=[KEY], scripted=True, env=env) as server:
        yield server


def finished_jobs(server: ServerProcess) -> list[str]:
    return FINISHED.findall(server.log_text())


def test_a_rest_batch_past_its_window_ends_expired(server: ServerProcess) -> None:
    client = OpenAI(base_url=server.v1, api_key=KEY, max_retries=0)
    body = {"model": "grok-4", "messages": [{"role": "user", "content": SLOW}]}
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": CHAT, "body": body} for i in range(REQUESTS)]
    content = "\n".join(json.dumps(line) for line in lines).encode()
    input_id = client.files.create(file=("requests.jsonl", content), purpose="batch").id
    batch = client.batches.create(input_file_id=input_id, endpoint=CHAT, completion_window="24h")
    assert batch.expires_at == batch.created_at + WINDOW_S  # the hosted shape: when the window ends
    deadline = time.monotonic() + 60
    while (batch := client.batches.retrieve(batch.id)).status not in ("completed", "expired", "failed"):
        assert time.monotonic() < deadline, batch.status
        time.sleep(0.3)
    assert batch.status == "expired" and batch.expired_at is not None
    assert batch.created_at + WINDOW_S <= batch.expired_at <= batch.created_at + WINDOW_S + 2
    counts = batch.request_counts
    assert counts is not None and counts.total == REQUESTS
    assert counts.completed >= 4 and counts.failed >= 4, counts  # some ran in the window, the rest could not
    print(f"REST batch after a {WINDOW_S} s window: {counts}")
    assert batch.output_file_id is not None and batch.error_file_id is not None
    outputs = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
    errors = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
    assert len(outputs) == counts.completed and len(errors) == counts.failed
    assert {line["custom_id"] for line in outputs} | {line["custom_id"] for line in errors} == {
        f"r{i}" for i in range(REQUESTS)
    }
    for line in errors:  # the hosted API's line for a request the window ran out on
        assert line["response"] is None and line["error"]["code"] == "batch_expired", line
        assert line["id"].startswith("batch_req_")
    for line in outputs:
        assert line["response"]["status_code"] == 200 and line["error"] is None
    # Each finished request ran once; an expired one never started.
    finished = finished_jobs(server)
    ran = [line["response"]["request_id"] for line in outputs]
    assert sorted(job for job in finished if job in set(ran)) == sorted(ran)
    log = server.log_text()
    assert not [line["id"] for line in errors if line["id"].removeprefix("batch_req_") in log]
    time.sleep(1.5)  # nothing more runs after the window
    assert client.batches.retrieve(batch.id).request_counts == counts
    assert len(finished_jobs(server)) == len(finished)


def test_a_grpc_batch_past_its_window_stops_its_unstarted_requests(server: ServerProcess) -> None:
    client = xai_sdk.Client(api_host=server.grpc_address, api_key=KEY)
    batch = client.batch.create("windowed")
    assert batch.expire_time.seconds == batch.create_time.seconds + WINDOW_S
    requests = []
    for i in range(REQUESTS):
        conversation = client.chat.create(model="grok-4", batch_request_id=f"g{i}")
        conversation.append(user(SLOW))
        requests.append(conversation)
    client.batch.add(batch.batch_id, requests)
    deadline = time.monotonic() + 60
    while (batch := client.batch.get(batch.batch_id)).state.num_pending:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    state = batch.state
    assert state.num_requests == REQUESTS == state.num_success + state.num_error + state.num_cancelled
    assert state.num_success >= 4 and state.num_cancelled >= 4 and state.num_error == 0, state
    print(f"gRPC batch after a {WINDOW_S} s window: {state}".replace("\n", " "))
    assert batch.cancel_time.seconds >= batch.create_time.seconds + WINDOW_S
    assert "batch_expired" in batch.cancel_by_xai_message
    listed = client.batch.list_batch_requests(batch.batch_id, limit=100).batch_request_metadata
    stopped = [m for m in listed if m.state == batch_pb2.BatchRequestMetadata.STATE_CANCELLED]
    assert len(stopped) == state.num_cancelled
    results: list[Any] = client.batch.list_batch_results(batch.batch_id, limit=100).results
    assert len(results) == state.num_success
    with pytest.raises(grpc.RpcError) as refused:  # past its window a batch takes no more requests
        client.batch.add(batch.batch_id, requests[:1])
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "window" in refused.value.details()
