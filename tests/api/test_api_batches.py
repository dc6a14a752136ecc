"""``client.batches`` / ``client.files`` of the real openai client against ``oculi serve`` (oculi-lite).

A 200-line JSONL batch mixes images by URL, base64 and uploaded file id and a
few bad requests; each output line must equal the direct call's answer
(content and usage), and each error line the direct call's status and body.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from api_support import KEY, OTHER_KEY, ImageServer, data_url, image_bytes
from openai import OpenAI

from oculi.testing.server import ServerProcess

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def lite(lite_server: ServerProcess) -> ServerProcess:
    """The shared oculi-lite server (jobs polled every 0.2 s)."""
    return lite_server


@pytest.fixture(scope="module")
def client(lite: ServerProcess) -> OpenAI:
    return OpenAI(base_url=lite.v1, api_key=KEY, max_retries=0)


def upload_jsonl(client: OpenAI, lines: list[dict[str, Any]]) -> str:
    content = "\n".join(json.dumps(line) for line in lines).encode()
    return client.files.create(file=("requests.jsonl", content), purpose="batch").id


def wait_done(client: OpenAI, batch_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    batch = client.batches.retrieve(batch_id)
    while batch.status not in ("completed", "failed", "cancelled", "expired"):
        assert time.monotonic() < deadline, f"batch still {batch.status}: {batch.request_counts}"
        time.sleep(0.3)
        batch = client.batches.retrieve(batch_id)
    return batch


def jsonl(client: OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    lines = [json.loads(line) for line in client.files.content(file_id).text.splitlines()]
    return {line["custom_id"]: line for line in lines}


def image_parts(image_server: ImageServer, client: OpenAI) -> list[dict[str, Any]]:
    """The same kinds of picture by URL, inline, and as an uploaded file."""
    pictures = [image_bytes(640, 480, seed=s) for s in range(3)]
    parts: list[dict[str, Any]] = []
    for i, data in enumerate(pictures):
        url = image_server.add(f"/batch-{i}.png", data)
        parts.append({"type": "image_url", "image_url": {"url": url, "detail": "high"}})
        parts.append({"type": "image_url", "image_url": {"url": data_url(data, "image/png")}})
        file_id = client.files.create(file=(f"picture-{i}.png", data), purpose="vision").id
        parts.append({"type": "file", "file": {"file_id": file_id}})
    return parts


def test_200_line_batch_matches_direct_calls(client: OpenAI, image_server: ImageServer) -> None:
    parts = image_parts(image_server, client)
    bad_bodies = [
        {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]},
        {"model": "grok-4", "messages": [{"role": "user", "content": [parts[0] | {"image_url": {"url": "x"}}]}]},
        {"model": "grok-4", "messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "nope"}}]}]},
        {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}], "temperature": 9},
    ]
    bodies = {}
    for i in range(200):
        if i % 50 == 13:
            body = bad_bodies[i // 50]
        else:
            question = ("What colours are in this picture?", "Describe this image.")[i % 2]
            body = {
                "model": "grok-4",
                "messages": [{"role": "user", "content": [{"type": "text", "text": question}, parts[i % len(parts)]]}],
            }
        bodies[f"line-{i}"] = body
    lines = [{"custom_id": k, "method": "POST", "url": CHAT, "body": b} for k, b in bodies.items()]
    batch = client.batches.create(input_file_id=upload_jsonl(client, lines), endpoint=CHAT, completion_window="24h")
    assert batch.status == "in_progress" and batch.request_counts.total == 200
    done = wait_done(client, batch.id)
    assert done.status == "completed"
    assert (done.request_counts.completed, done.request_counts.failed) == (196, 4)
    outputs, errors = jsonl(client, done.output_file_id), jsonl(client, done.error_file_id)
    assert len(outputs) == 196 and len(errors) == 4

    direct: dict[str, Any] = {}
    for custom_id, body in bodies.items():
        signature = json.dumps(body, sort_keys=True)
        if signature not in direct:
            answer = httpx.post(
                f"{client.base_url}chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=60
            )
            direct[signature] = answer
        expected = direct[signature]
        if expected.status_code == 200:
            got = outputs[custom_id]["response"]
            assert got["status_code"] == 200
            assert got["body"]["choices"][0]["message"] == expected.json()["choices"][0]["message"]
            assert got["body"]["usage"] == expected.json()["usage"]
        else:
            got = errors[custom_id]["response"]
            assert (got["status_code"], got["body"]) == (expected.status_code, expected.json()), custom_id


def test_responses_batch(client: OpenAI) -> None:
    picture = data_url(image_bytes(300, 200, seed=7), "image/png")
    body = {
        "model": "grok-4",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": picture},
                ],
            }
        ],
    }
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/responses", "body": body} for i in range(3)]
    batch = client.batches.create(
        input_file_id=upload_jsonl(client, lines), endpoint="/v1/responses", completion_window="24h"
    )
    done = wait_done(client, batch.id)
    expected = client.responses.create(**body, store=False)
    outputs = jsonl(client, done.output_file_id)
    assert sorted(outputs) == ["r0", "r1", "r2"]
    for line in outputs.values():
        response = line["response"]["body"]
        assert response["object"] == "response" and response["status"] == "completed"
        assert response["output"][0]["content"][0]["text"] == expected.output_text
        assert response["usage"]["input_tokens"] == expected.usage.input_tokens


def test_cancel_mid_way(client: OpenAI, image_server: ImageServer) -> None:
    picture = data_url(image_bytes(800, 600, seed=3), "image/png")
    body = {
        "model": "grok-4",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": picture}}]}],
    }
    lines = [{"custom_id": f"c{i}", "method": "POST", "url": CHAT, "body": body} for i in range(300)]
    batch = client.batches.create(input_file_id=upload_jsonl(client, lines), endpoint=CHAT, completion_window="24h")
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at is not None
    done = wait_done(client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at is not None
    counts = done.request_counts
    outputs, errors = jsonl(client, done.output_file_id), jsonl(client, done.error_file_id)
    cancelled = [line for line in errors.values() if line["error"] and line["error"]["code"] == "batch_cancelled"]
    assert cancelled, "the batch finished before it could be cancelled"
    assert len(outputs) == counts.completed and len(outputs) + len(errors) == counts.total == 300


def test_invalid_input_file_fails_the_batch_naming_the_line(client: OpenAI) -> None:
    good = {"custom_id": "a", "method": "POST", "url": CHAT, "body": {"model": "grok-4", "messages": []}}
    lines = [good, {"custom_id": "a", "method": "POST", "url": CHAT, "body": {}}, {"custom_id": "b", "url": "/v1/x"}]
    batch = client.batches.create(input_file_id=upload_jsonl(client, lines), endpoint=CHAT, completion_window="24h")
    assert batch.status == "failed" and batch.errors is not None
    assert [(e.line, e.param) for e in batch.errors.data or []] == [(2, "custom_id"), (3, "url")]
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(input_file_id=batch.input_file_id, endpoint="/v1/embeddings", completion_window="24h")  # type: ignore[arg-type]
    assert refused.value.response.json()["param"] == "endpoint"
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint=CHAT, completion_window="24h")


def test_batches_are_per_key_and_counted_in_metrics(client: OpenAI, lite: ServerProcess) -> None:
    lines = [
        {
            "custom_id": "x",
            "method": "POST",
            "url": CHAT,
            "body": {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]},
        }
    ]
    batch = client.batches.create(input_file_id=upload_jsonl(client, lines), endpoint=CHAT, completion_window="24h")
    wait_done(client, batch.id)
    assert batch.id in [b.id for b in client.batches.list(limit=100)]
    other = OpenAI(base_url=lite.v1, api_key=OTHER_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.batches.retrieve(batch.id)
    assert batch.id not in [b.id for b in other.batches.list()]
    metrics = httpx.get(f"{lite.base_url}/metrics", headers={"authorization": f"Bearer {client.api_key}"}).text
    succeeded = [line for line in metrics.splitlines() if line.startswith('oculi_jobs{kind="batch",state="succeeded"}')]
    assert succeeded and float(succeeded[0].split()[-1]) >= 1


def test_cli_submit_and_status(lite: ServerProcess, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    oculi = Path(sys.executable).with_name("oculi")
    picture = data_url(image_bytes(200, 100, seed=1), "image/png")
    body = {
        "model": "grok-4",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": picture}}]}],
    }
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        "\n".join(json.dumps({"custom_id": f"q{i}", "method": "POST", "url": CHAT, "body": body}) for i in range(5))
    )
    wide = {**os.environ, "COLUMNS": "200"}  # rich wraps at 80 columns without a terminal
    where = ["--server", lite.base_url, "--api-key", KEY, "--interval", "0.2"]
    submitted = subprocess.run(
        [str(oculi), "batch", "submit", str(requests), "--output", str(tmp_path / "out.jsonl"), *where],
        capture_output=True,
        text=True,
        timeout=120,
        env=wide,
    )
    assert submitted.returncode == 0, submitted.stderr
    batch_id = submitted.stdout.split()[1].rstrip(":")
    assert "completed — 5 succeeded, 0 failed, 5 total" in submitted.stdout
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5
    status = subprocess.run(
        [str(oculi), "batch", "status", batch_id, *where], capture_output=True, text=True, timeout=60, env=wide
    )
    assert status.returncode == 0 and f"{batch_id}: completed" in status.stdout
    missing = subprocess.run(
        [str(oculi), "batch", "status", "batch_nope", *where], capture_output=True, text=True, timeout=60, env=wide
    )
    assert missing.returncode == 2 and "No batch with id 'batch_nope'" in missing.stderr
