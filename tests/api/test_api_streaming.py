"""Stream failures, client disconnects and server-wide limits (413, 429).

The behaviours a real model cannot be made to show on demand (failing
mid-stream, a slow stream) use the scripted engine; the disconnect is also
checked with the tiny real checkpoint.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from api_support import KEY, SCRIPTED_MAX_BODY, SCRIPTED_MAX_IMAGE_BUDGET, SCRIPTED_MAX_QUEUE, MiB, data_url
from openai import OpenAI

from oculi.testing.server import ServerProcess

AUTH = {"authorization": f"Bearer {KEY}"}


def ask(text: str, **extra: object) -> dict:
    return {"model": "grok-4", "messages": [{"role": "user", "content": text}], **extra}


def wait_idle(server: ServerProcess, timeout: float = 10.0) -> None:
    """Until the server reports no admitted generation (the slot was freed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(server.base_url + "/health", headers=AUTH).json()["active_requests"] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("a generation slot was never freed")


def metric(server: ServerProcess, name: str) -> float:
    text = httpx.get(server.base_url + "/metrics", headers=AUTH).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_chat_stream_failure_mid_stream(scripted_server: ServerProcess) -> None:
    client = OpenAI(base_url=scripted_server.v1, api_key=KEY, max_retries=0)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(**ask("[[tokens:6]] [[fail-after:2]]", stream=True)):
            received.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "word0 word1 "
    with httpx.stream(
        "POST", scripted_server.v1 + "/chat/completions", json=ask("[[fail-after:1]]", stream=True), headers=AUTH
    ) as r:
        lines = [line for line in r.iter_lines() if line]
    last = json.loads(lines[-1].removeprefix("data: "))
    assert last["code"] == "internal_error" and "request id" in last["error"]
    assert "data: [DONE]" not in lines
    wait_idle(scripted_server)


def test_responses_stream_failure_is_response_failed(scripted_server: ServerProcess) -> None:
    body = {"model": "grok-4", "input": "[[tokens:5]] [[fail-after:2]]", "stream": True}
    with httpx.stream("POST", scripted_server.v1 + "/responses", json=body, headers=AUTH) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[4:6] == ["response.output_text.delta"] * 2
    assert kinds[-1] == "response.failed"
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["code"] == "internal_error"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_failure_before_the_first_token_keeps_its_status(scripted_http: httpx.Client) -> None:
    for path, body in (
        ("/v1/chat/completions", ask("[[fail-after:0]]", stream=True)),
        ("/v1/responses", {"model": "grok-4", "input": "[[fail-after:0]]", "stream": True}),
    ):
        response = scripted_http.post(path, json=body)
        assert response.status_code == 500, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["code"] == "internal_error"


def test_non_streaming_failure_is_500_with_request_id(scripted_http: httpx.Client) -> None:
    response = scripted_http.post("/v1/chat/completions", json=ask("[[fail-after:1]]"))
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert response.headers["x-request-id"] in body["error"]
    assert "scripted failure" not in body["error"]  # no internals leak


def test_disconnect_stops_the_engine_and_frees_the_slot(scripted_server: ServerProcess) -> None:
    body = ask("[[tokens:200]] [[delay:0.05]]", stream=True)
    url = scripted_server.v1 + "/chat/completions"
    with httpx.Client(timeout=30) as client, client.stream("POST", url, json=body, headers=AUTH) as r:
        request_id = r.headers["x-request-id"]
        lines = r.iter_lines()
        got = [next(lines) for _ in range(4)]
        assert any("word0" in line for line in got)
    # leaving the block closed the connection mid-stream
    wait_idle(scripted_server)
    deadline = time.monotonic() + 10
    pattern = re.compile(r"scripted engine: \S+ cancelled after (\d+) tokens")
    while not pattern.search(scripted_server.log_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    cancelled = [int(n) for n in pattern.findall(scripted_server.log_text())]
    assert cancelled and min(cancelled) < 200, "the engine never saw the cancel"
    assert request_id in scripted_server.log_text()
    # The next request runs normally.
    after = httpx.post(scripted_server.v1 + "/chat/completions", json=ask("[[tokens:3]]"), headers=AUTH, timeout=30)
    assert after.status_code == 200
    assert after.json()["choices"][0]["message"]["content"] == "word0 word1 word2"


def test_disconnect_with_the_real_model(vlm_server: ServerProcess) -> None:
    completed_before = metric(vlm_server, "oculi_completion_tokens_total")
    body = ask("Tell me a long story.", stream=True, max_tokens=4000)
    url = vlm_server.v1 + "/chat/completions"
    with httpx.Client(timeout=60) as client, client.stream("POST", url, json=body, headers=AUTH) as r:
        lines = r.iter_lines()
        next(lines)
        next(lines)
    wait_idle(vlm_server, timeout=20)
    assert metric(vlm_server, "oculi_queue_depth") == 0
    # The cancelled run never finished (a finished one would have counted its tokens).
    assert metric(vlm_server, "oculi_completion_tokens_total") == completed_before
    client = OpenAI(base_url=vlm_server.v1, api_key=KEY, max_retries=0)
    completion = client.chat.completions.create(**ask("Hello", max_tokens=2))
    assert completion.usage is not None and completion.usage.completion_tokens >= 1


def test_body_over_the_limit_is_413(scripted_server: ServerProcess) -> None:
    image = data_url(b"\x89PNG\r\n\x1a\n" + b"\0" * SCRIPTED_MAX_BODY)
    body = {"model": "grok-4", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": image}]}]}
    declared = httpx.post(scripted_server.v1 + "/chat/completions", json=body, headers=AUTH, timeout=30)
    assert declared.status_code == 413
    assert declared.json()["code"] == "payload_too_large"
    assert str(SCRIPTED_MAX_BODY) in declared.json()["error"]
    assert declared.headers["x-request-id"]

    def chunked():  # no Content-Length: counted while reading
        raw = json.dumps(body).encode()
        for i in range(0, len(raw), MiB):
            yield raw[i : i + MiB]

    streamed = httpx.post(
        scripted_server.v1 + "/chat/completions",
        content=chunked(),
        headers={**AUTH, "content-type": "application/json"},
        timeout=30,
    )
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "payload_too_large"


def test_images_over_the_in_flight_budget_are_413(scripted_http: httpx.Client) -> None:
    big = data_url(b"\x89PNG\r\n\x1a\n" + bytes(SCRIPTED_MAX_IMAGE_BUDGET + MiB // 2))
    body = {"model": "grok-4", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": big}]}]}
    response = scripted_http.post("/v1/chat/completions", json=body)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    assert str(SCRIPTED_MAX_IMAGE_BUDGET) in response.json()["error"]


def test_over_capacity_is_a_quick_429_with_retry_after(scripted_server: ServerProcess) -> None:
    slow = ask("[[tokens:20]] [[delay:0.1]]")  # 2 s each
    limits = httpx.Limits(max_connections=SCRIPTED_MAX_QUEUE * 3)
    with httpx.Client(base_url=scripted_server.v1, headers=AUTH, timeout=60, limits=limits) as client:

        def post(_: int) -> tuple[int, float, dict, str]:
            start = time.monotonic()
            r = client.post("/chat/completions", json=slow)
            return r.status_code, time.monotonic() - start, dict(r.headers), r.text

        with ThreadPoolExecutor(SCRIPTED_MAX_QUEUE * 3) as pool:
            results = list(pool.map(post, range(SCRIPTED_MAX_QUEUE * 3)))
    statuses = [r[0] for r in results]
    assert statuses.count(200) >= SCRIPTED_MAX_QUEUE
    refused = [r for r in results if r[0] == 429]
    assert refused, statuses
    for _, elapsed, headers, text in refused:
        assert elapsed < 1.5  # refused at once, not after waiting for a slot (a generation takes 2 s)
        assert headers["retry-after"] == "1"
        assert json.loads(text)["code"] == "overloaded"
    wait_idle(scripted_server)


def test_access_log_carries_the_request_id(scripted_http: httpx.Client, scripted_server: ServerProcess) -> None:
    response = scripted_http.get("/v1/models", headers={"x-request-id": "log-trace-42"})
    assert response.status_code == 200
    time.sleep(0.2)
    assert re.search(r"\[log-trace-42\] GET /v1/models 200", scripted_server.log_text())


def test_disconnect_during_a_whole_answer_stops_it(scripted_server: ServerProcess) -> None:
    before = len(re.findall(r"cancelled after", scripted_server.log_text()))
    body = ask("[[tokens:200]] [[delay:0.05]]")  # 10 s unless stopped
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes the connection
        httpx.post(scripted_server.v1 + "/chat/completions", json=body, headers=AUTH, timeout=0.7)
    wait_idle(scripted_server)
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while len(re.findall(r"cancelled after", scripted_server.log_text())) == before:
        assert time.monotonic() < deadline, "the engine never saw the cancel"
        time.sleep(0.05)
    assert re.search(r"POST /v1/chat/completions 499", scripted_server.log_text())
