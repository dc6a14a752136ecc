"""Crash tests of the durable job machinery: no acknowledged deferred or batch request is lost or completed twice.

Real server processes (``python -m oculi.testing.scripted``: the full server
with the scripted engine, whose ``[[delay:S]]`` directive makes each job
last long enough to be caught mid-flight), the real xai-sdk for batches,
plain HTTP for deferred completions, and the real database read directly:

- two replicas on one PostgreSQL schema; ``kill -9`` one while it holds
  jobs; the other finishes every job, the killed one's on a second attempt;
- one server on SQLite, ``kill -9``, restart on the same file;
- SIGTERM during a batch: the running jobs are handed back (short grace),
  nothing is left leased, and a restarted server finishes them all.

"Completed once" is checked twice: each job row names the one worker whose
result was written (``completed_by``), and across all server logs each job
is reported finished exactly once.
"""

from __future__ import annotations

import re
import secrets
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
import xai_sdk
from servers import KEY
from xai_sdk.chat import user

from oculi.testing.server import ServerProcess, running_server

AUTH = {"authorization": f"Bearer {KEY}"}
JOB_ENV = {"OCULI_JOB_LEASE_SECONDS": "2", "OCULI_JOB_POLL_SECONDS": "0.2", "OCULI_MAX_BATCH_SIZE": "8"}
SLOW = "[[tokens:5]] [[delay:0.4]]"  # about 2 s per job
WORKER = re.compile(r"job worker (worker-[0-9a-f]+): up to")
FINISHED = re.compile(r"job (\S+) \((?:deferred|batch)\) (?:succeeded|failed) by (worker-[0-9a-f]+)")


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (skipped without a server, failed when OCULI_TEST_PG_URL is set but down)."""
    import os

    configured = os.environ.get("OCULI_TEST_PG_URL")
    base = configured or "postgresql://postgres@127.0.0.1:5432/test"
    try:
        psycopg.connect(base, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if configured:
            pytest.fail(f"OCULI_TEST_PG_URL={configured} is unreachable: {exc}")
        pytest.skip(f"no PostgreSQL at {base}")
    schema = f"oculi_jobs_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def rows_of(store_url: str) -> Callable[[str], list[tuple[object, ...]]]:
    """``rows(sql)`` straight from the database behind ``store_url``."""
    from sqlalchemy import create_engine, text

    from oculi.store.connection import parse_store_url

    def rows(sql: str) -> list[tuple[object, ...]]:
        engine = create_engine(parse_store_url(store_url))
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql))]
        finally:
            engine.dispose()

    return rows


def server(store_url: str, **env: str) -> running_server:  # type: ignore[valid-type]
    return running_server(api_keys=[KEY], store_url=store_url, scripted=True, env={**JOB_ENV, **env})


def worker_id(process: ServerProcess) -> str:
    match = WORKER.search(process.log_text())
    assert match, "the server did not start a job worker"
    return match.group(1)


def submit_work(process: ServerProcess, deferred: int, batch: int) -> tuple[list[str], str]:
    """Queue ``deferred`` deferred completions (HTTP) and a batch of ``batch`` requests (xai-sdk)."""
    ids = []
    for i in range(deferred):
        body = {"model": "grok-4", "deferred": True, "messages": [{"role": "user", "content": f"d{i} {SLOW}"}]}
        answer = httpx.post(f"{process.v1}/chat/completions", json=body, headers=AUTH, timeout=30)
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["request_id"])
    client = xai_sdk.Client(api_host=process.grpc_address, api_key=KEY)
    created = client.batch.create("crash")
    chats = []
    for i in range(batch):
        conversation = client.chat.create(model="grok-4", batch_request_id=f"b{i}")
        conversation.append(user(f"b{i} {SLOW}"))
        chats.append(conversation)
    client.batch.add(created.batch_id, chats)
    return ids, created.batch_id


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def all_final(rows: Callable[[str], list[tuple[object, ...]]]) -> bool:
    return rows("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')")[0][0] == 0


def assert_each_completed_once(
    rows: Callable[[str], list[tuple[object, ...]]], logs: list[str], killed: str | None = None
) -> None:
    """Every job succeeded, was written by one worker, and no worker reported finishing a job it did not write.

    ``killed``: the worker that got SIGKILL. A worker logs a finish right after its result is committed, so
    the killed one may have committed a last job and died before its log line: that job may go unreported,
    and only if the store says the killed worker wrote it.
    """
    jobs = rows("SELECT id, state, completed_by FROM jobs")
    assert jobs and all(state == "succeeded" for _, state, _ in jobs), jobs
    reported = Counter(job_id for log in logs for job_id, _ in FINISHED.findall(log))
    unreported = {job_id: by for job_id, _, by in jobs if reported[job_id] == 0}
    assert all(by == killed for by in unreported.values()) and len(unreported) <= 1, unreported
    assert {job_id: reported[job_id] for job_id, _, _ in jobs if job_id not in unreported} == {
        job_id: 1 for job_id, _, _ in jobs if job_id not in unreported
    }
    writers = {job_id: worker for log in logs for job_id, worker in FINISHED.findall(log)}
    assert writers == {job_id: completed_by for job_id, _, completed_by in jobs if job_id not in unreported}


def assert_deferred_answered(process: ServerProcess, ids: list[str]) -> None:
    for request_id in ids:
        poll = httpx.get(f"{process.v1}/chat/deferred-completion/{request_id}", headers=AUTH, timeout=30)
        assert poll.status_code == 200, poll.text
        assert poll.json()["choices"][0]["message"]["content"] == " ".join(f"word{k}" for k in range(5))


@pytest.mark.postgres
def test_kill_9_of_one_replica_on_postgresql(pg_schema_url: str) -> None:
    rows = rows_of(pg_schema_url)
    managers = [server(pg_schema_url), server(pg_schema_url)]
    with ThreadPoolExecutor(2) as pool:
        victim, survivor = pool.map(lambda m: m.__enter__(), managers)
    try:
        ids, batch_id = submit_work(victim, deferred=4, batch=14)
        victim_worker = worker_id(victim)
        wait_for(
            lambda: len(rows("SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running'")) == 2,
            60,
            "both replicas running jobs",
        )
        held = {r[0] for r in rows(f"SELECT id FROM jobs WHERE state = 'running' AND lease_owner = '{victim_worker}'")}
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        wait_for(lambda: all_final(rows), 120, "every job to finish on the survivor")

        assert_each_completed_once(rows, [victim.log_text(), survivor.log_text()], killed=victim_worker)
        survivor_worker = worker_id(survivor)
        retried = rows(f"SELECT id, attempts, completed_by FROM jobs WHERE id IN ({','.join(map(repr, held))})")
        assert held and {(a, w) for _, a, w in retried} == {(2, survivor_worker)}
        assert_deferred_answered(survivor, ids)
        batch = xai_sdk.Client(api_host=survivor.grpc_address, api_key=KEY).batch.get(batch_id)
        assert (batch.state.num_success, batch.state.num_pending) == (14, 0)
    finally:
        for manager in managers:
            manager.__exit__(None, None, None)


def test_kill_9_and_restart_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'oculi.db'}"
    rows = rows_of(url)
    with server(url) as first:
        ids, batch_id = submit_work(first, deferred=2, batch=8)
        wait_for(lambda: rows("SELECT count(*) FROM jobs WHERE state = 'running'")[0][0] > 0, 60, "running jobs")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        first_log = first.log_text()
    assert not all_final(rows)
    with server(url) as second:
        wait_for(lambda: all_final(rows), 120, "every job to finish after the restart")
        first_worker = WORKER.search(first_log)
        assert first_worker is not None
        assert_each_completed_once(rows, [first_log, second.log_text()], killed=first_worker.group(1))
        assert_deferred_answered(second, ids)
        batch = xai_sdk.Client(api_host=second.grpc_address, api_key=KEY).batch.get(batch_id)
        assert (batch.state.num_success, batch.state.num_pending) == (8, 0)


def test_sigterm_during_a_batch_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'oculi.db'}"
    rows = rows_of(url)
    with server(url, OCULI_JOB_SHUTDOWN_GRACE_SECONDS="0.5") as first:
        _, batch_id = submit_work(first, deferred=0, batch=10)
        wait_for(lambda: rows("SELECT count(*) FROM jobs WHERE state = 'running'")[0][0] > 0, 60, "running jobs")
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(30) == 0
        first_log = first.log_text()
    assert "handed" in first_log and "unfinished jobs back to the queue" in first_log
    assert rows("SELECT count(*) FROM jobs WHERE state = 'running'") == [(0,)]
    assert rows("SELECT count(*) FROM jobs WHERE state = 'pending' AND attempts = 0")[0][0] > 0
    with server(url) as second:
        wait_for(lambda: all_final(rows), 120, "every job to finish after the restart")
        assert_each_completed_once(rows, [first_log, second.log_text()])
        batch = xai_sdk.Client(api_host=second.grpc_address, api_key=KEY).batch.get(batch_id)
        assert (batch.state.num_success, batch.state.num_requests) == (10, 10)
