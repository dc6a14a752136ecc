"""Files on a PostgreSQL store shared by two replicas: upload on one, use, list and delete on the other.

PostgreSQL comes from ``OCULI_TEST_PG_URL`` (CI sets it); without it the
local default is tried and the module skipped when nothing answers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import openai
import psycopg
import pytest
from files_support import KEY, OTHER_KEY, picture
from openai import OpenAI
from spec_oracle import expected_image_tokens
from xai_sdk import Client
from xai_sdk.chat import file, user

from oculi.testing.server import ServerProcess, running_server

pytestmark = pytest.mark.postgres

LOCAL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def pg_schema_url() -> Iterator[str]:
    """A fresh schema on the test server (dropped afterwards), as a store URL."""
    base = os.environ.get("OCULI_TEST_PG_URL")
    if not base:
        try:
            psycopg.connect(LOCAL_DEFAULT, connect_timeout=2).close()
        except psycopg.Error as exc:
            pytest.skip(f"OCULI_TEST_PG_URL is unset and no PostgreSQL answers at {LOCAL_DEFAULT}: {exc}")
        base = LOCAL_DEFAULT
    schema = f"oculi_files_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="module")
def replicas(pg_schema_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two oculi-lite servers on the same PostgreSQL store, started concurrently."""
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        managers = [running_server(api_keys=[KEY, OTHER_KEY], store_url=pg_schema_url) for _ in range(2)]
        futures = [pool.submit(m.__enter__) for m in managers]
        for manager, future in zip(managers, futures, strict=True):
            if future.exception() is None:
                stack.push(manager.__exit__)  # stop whichever started, whatever happens next
        one, two = (f.result() for f in futures)
        yield one, two


def test_a_file_uploaded_on_one_replica_serves_the_other(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = replicas
    data = picture(1000, 500, fmt="JPEG", seed=7)
    uploaded = OpenAI(base_url=one.v1, api_key=KEY, max_retries=0).files.create(
        file=("photo.jpg", data), purpose="vision"
    )
    same_bytes = OpenAI(base_url=one.v1, api_key=OTHER_KEY, max_retries=0).files.create(
        file=("copy.jpg", data), purpose="vision"
    )
    other = OpenAI(base_url=two.v1, api_key=KEY, max_retries=0)
    assert other.files.retrieve(uploaded.id) == uploaded
    assert other.files.content(uploaded.id).content == data
    assert [f.id for f in other.files.list()] == [uploaded.id]  # the other key's copy is not listed
    completion = other.chat.completions.create(
        model="grok-4",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "file", "file": {"file_id": uploaded.id}},
                    {"type": "text", "text": "What is it?"},
                ],
            }
        ],
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.image_tokens == expected_image_tokens(1000, 500, "auto")
    with Client(api_key=KEY, api_host=one.grpc_address, timeout=60) as xai:
        chat = xai.chat.create(model="grok-4")
        chat.append(user("What is in this image?", file(uploaded.id)))
        assert chat.sample().usage.prompt_image_tokens == expected_image_tokens(1000, 500, "auto")
        assert xai.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        other.files.retrieve(uploaded.id)
    # The identical bytes another key uploaded are still there for that key.
    assert OpenAI(base_url=two.v1, api_key=OTHER_KEY).files.content(same_bytes.id).content == data
