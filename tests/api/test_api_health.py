"""Liveness vs readiness, and the graceful stop an orchestrator relies on.

The probes' answers are checked on the app in this process (no server needed); the
graceful stop on a real ``oculi serve`` process sent SIGTERM.

``/health`` (liveness) and ``/health/ready`` (readiness) answer without a key,
because probes carry none, but then say only ok / not ok. Readiness turns 503
when the store stops answering while liveness stays 200 (a restart would not
bring the database back). SIGTERM lets an in-flight request finish and the
process exits within one grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from api_support import KEY
from servers import app_client

from oculi.engines.registry import EngineRegistry
from oculi.settings import Settings
from oculi.testing.scripted import ScriptedEngine
from oculi.testing.server import running_server

AUTH = {"authorization": f"Bearer {KEY}"}


def scripted_app(store_url: str) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    """The HTTP app in this process on the scripted engine, key ``KEY``, store ``store_url``."""
    settings = Settings(store_url=store_url, api_keys=[KEY], job_shutdown_grace_seconds=0)
    return app_client(settings, EngineRegistry([ScriptedEngine()], {}))


async def test_live_and_ready_answer_anonymous_callers_with_ok_only(tmp_path: Path) -> None:
    async with scripted_app(f"sqlite:///{tmp_path / 'oculi.db'}") as client:
        for path in ("/health", "/health/ready"):
            anonymous = await client.get(path)
            assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}, path
        assert (await client.get("/health/ready", headers=AUTH)).json() == {"status": "ok"}
        # A wrong key is anonymous too: it learns nothing more.
        wrong = await client.get("/health/ready", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 200 and wrong.json() == {"status": "ok"}


def test_sigterm_finishes_the_request_in_flight_and_exits_within_one_grace() -> None:
    with running_server(scripted=True, api_keys=[KEY], grpc=True) as server:
        result: dict[str, httpx.Response] = {}

        def ask() -> None:
            result["answer"] = httpx.post(
                server.v1 + "/chat/completions",
                headers=AUTH,
                json={"model": "grok-4", "messages": [{"role": "user", "content": "[[tokens:3]] [[delay:1]]"}]},
                timeout=30,
            )

        asker = threading.Thread(target=ask)
        asker.start()
        time.sleep(1.2)  # the request is generating (one word out, two to go)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 0
        stopped_after = time.monotonic() - started
        asker.join(30)
        log = server.log_text()
    answer = result["answer"]
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "word0 word1 word2"
    # HTTP and gRPC drain together and jobs' grace counts from the signal: one 10 s period at most.
    assert stopped_after < 10, f"stop took {stopped_after:.1f}s"
    assert "stopped" in log


@pytest.mark.postgres
async def test_ready_is_503_while_the_store_does_not_answer_and_liveness_stays_200() -> None:
    psycopg = pytest.importorskip("psycopg")
    admin_url = os.environ.get("OCULI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=2)
    except psycopg.Error as exc:
        pytest.skip(f"no PostgreSQL at {admin_url}: {exc}")
    name = f"oculi_ready_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name}")
    store_url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        async with scripted_app(store_url) as client:
            assert (await client.get("/health/ready")).status_code == 200
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")  # the store is gone: connections cut, no database
            anonymous = await client.get("/health/ready")
            assert anonymous.status_code == 503 and anonymous.json() == {"status": "unavailable"}
            detailed = (await client.get("/health/ready", headers=AUTH)).json()
            assert set(detailed["problems"]) == {"store"}
            live = await client.get("/health")
            assert live.status_code == 200 and live.json() == {"status": "ok"}
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
