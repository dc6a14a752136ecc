"""Two server processes sharing one PostgreSQL store continue each other's conversations.

The server URL comes from ``OCULI_TEST_PG_URL`` (CI sets it). Without it, the
local default ``postgresql://postgres@127.0.0.1:5432/test`` is used when it
answers; otherwise the module is skipped with the reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import openai
import pytest
from api_support import KEY, OTHER_KEY, data_url, image_bytes
from openai import OpenAI
from spec_oracle import expected_image_tokens

from oculi.testing.server import ServerProcess, running_server

pytestmark = pytest.mark.postgres

LOCAL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_url() -> str:
    url = os.environ.get("OCULI_TEST_PG_URL")
    if url:
        return url
    import psycopg

    try:
        psycopg.connect(LOCAL_DEFAULT, connect_timeout=2).close()
    except psycopg.Error as exc:
        pytest.skip(f"OCULI_TEST_PG_URL is unset and no PostgreSQL answers at {LOCAL_DEFAULT}: {exc}")
    return LOCAL_DEFAULT


@pytest.fixture(scope="module")
def pg_url() -> str:
    return _pg_url()


@pytest.fixture(scope="module")
def replicas(pg_url: str, tiny_internvl: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers on the same PostgreSQL store, started concurrently (each loads the model)."""
    managers: list[AbstractContextManager[ServerProcess]] = [
        running_server(models=[str(tiny_internvl)], api_keys=[KEY, OTHER_KEY], store_url=pg_url, grpc=False)
        for _ in range(2)
    ]
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(m.__enter__) for m in managers]
        errors = [f.exception() for f in futures]
    started = [(m, f.result()) for m, f in zip(managers, futures, strict=True) if f.exception() is None]
    try:
        if any(errors):
            raise next(e for e in errors if e is not None)
        yield started[0][1], started[1][1]
    finally:
        for manager, _ in started:
            manager.__exit__(None, None, None)


def stored_in_pg(pg_url: str, response_id: str) -> bool:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT 1 FROM responses WHERE id = %s", (response_id,)).fetchone() is not None


def test_replicas_continue_each_others_conversations(
    replicas: tuple[ServerProcess, ServerProcess], pg_url: str
) -> None:
    a, b = (OpenAI(base_url=s.v1, api_key=KEY, max_retries=0, timeout=120) for s in replicas)
    image = data_url(image_bytes(800, 400, seed=21))
    image_tokens = expected_image_tokens(800, 400, "high")
    first = a.responses.create(
        model="grok-4",
        max_output_tokens=2,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": image, "detail": "high"},
                    {"type": "input_text", "text": "What is this?"},
                ],
            }
        ],
    )
    assert stored_in_pg(pg_url, first.id)
    second = b.responses.create(model="grok-4", max_output_tokens=2, previous_response_id=first.id, input="More?")
    assert second.usage is not None
    assert second.usage.input_tokens_details.image_tokens == image_tokens  # type: ignore[attr-defined]
    third = a.responses.create(model="grok-4", max_output_tokens=2, previous_response_id=second.id, input="Again?")
    assert third.usage is not None and third.usage.input_tokens > second.usage.input_tokens
    assert a.responses.retrieve(second.id).output_text == second.output_text

    other = OpenAI(base_url=replicas[1].v1, api_key=OTHER_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(first.id)

    b.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        a.responses.retrieve(first.id)
    assert not stored_in_pg(pg_url, first.id)


def test_store_false_leaves_nothing_in_postgres(replicas: tuple[ServerProcess, ServerProcess], pg_url: str) -> None:
    client = OpenAI(base_url=replicas[0].v1, api_key=KEY, max_retries=0)
    response = client.responses.create(model="grok-4", input="hi", max_output_tokens=1, store=False)
    assert not stored_in_pg(pg_url, response.id)


def test_deferred_completion_polled_on_the_other_replica(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    auth = {"authorization": f"Bearer {KEY}"}
    body = {"model": "grok-4", "deferred": True, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
    request_id = httpx.post(replicas[0].v1 + "/chat/completions", json=body, headers=auth).json()["request_id"]
    deadline = time.monotonic() + 60
    while (
        poll := httpx.get(f"{replicas[1].v1}/chat/deferred-completion/{request_id}", headers=auth)
    ).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert poll.status_code == 200, poll.text
    assert poll.json()["id"] == request_id
