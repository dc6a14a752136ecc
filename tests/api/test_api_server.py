"""The server process: bind policy without API keys, open access then, graceful shutdown."""

from __future__ import annotations

import json

import httpx
from servers import KEY

from oculi.testing.server import running_server, stop_server


def test_no_keys_binds_localhost_only_and_shuts_down_cleanly() -> None:
    with running_server(scripted=True, grpc=False, env={"OCULI_HOST": "0.0.0.0"}) as server:
        log = server.log_text()
        assert "No API keys configured" in log and "binding to 127.0.0.1 only" in log
        assert f"running on http://127.0.0.1:{server.http_port}" in log
        # Without keys, no key is needed.
        models = httpx.get(server.v1 + "/models")
        assert models.status_code == 200 and models.json()["data"][0]["id"] == "oculi-scripted"
        key_info = httpx.get(server.v1 + "/api-key").json()
        assert key_info["redacted_api_key"] == ""
        answer = httpx.post(
            server.v1 + "/chat/completions",
            json={"model": "grok-4", "messages": [{"role": "user", "content": "[[tokens:2]]"}]},
        )
        assert answer.json()["choices"][0]["message"]["content"] == "word0 word1"
        assert stop_server(server) == 0
        assert "stopped" in server.log_text()


def test_structured_logs_carry_the_request_id() -> None:
    with running_server(scripted=True, grpc=False, api_keys=[KEY], env={"OCULI_LOG_JSON": "true"}) as server:
        response = httpx.get(server.v1 + "/models", headers={"authorization": "Bearer wrong"})
        assert response.status_code == 401
        request_id = response.headers["x-request-id"]
        stop_server(server)
        entries = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    assert entries and all({"ts", "level", "logger", "request_id", "message"} <= set(e) for e in entries)
    access = [e for e in entries if e["logger"] == "oculi.access" and e["request_id"] == request_id]
    assert len(access) == 1
    assert access[0]["status"] == 401 and access[0]["path"] == "/v1/models" and access[0]["latency_ms"] >= 0
