"""PostgreSQL killed under load: 503 with Retry-After (never a hang, never a 500), reconnect, nothing lost.

A real server (the scripted engine) on a private PostgreSQL that this test
starts itself (``oculi.testing.postgres``: its own ``initdb``, port and
socket directory; never the machine's shared server). While clients keep
storing responses, asking chat completions that need no store, a deferred
completion and a batch are running and a chunked upload is half-sent,
PostgreSQL gets SIGKILL (postmaster and backends at once) and comes back
after a few seconds, with oculi left running. Then:

- outside the outage, no request failed; during it, every failure was a
  503 ``store_unavailable`` with ``Retry-After`` and a message saying the
  store is unavailable, and every request was answered (client timeout);
- requests that need no store kept working throughout;
- every stored response acknowledged (200) reads back, before and after;
- the deferred and batch jobs in flight paused and finished, each exactly
  once; the upload in flight waited for the store and is stored whole;
- nothing half-written is visible: every file's chunks add up to its size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import xai_sdk
from xai_sdk.chat import user

from oculi.testing.postgres import PrivatePostgres, private_postgres
from oculi.testing.server import ServerProcess, running_server

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

KEY = "sk-outage-test"
AUTH = {"authorization": f"Bearer {KEY}"}
ENV = {"OCULI_JOB_LEASE_SECONDS": "6", "OCULI_JOB_POLL_SECONDS": "0.2", "OCULI_MAX_BATCH_SIZE": "8"}
SLOW = "[[tokens:6]] [[delay:0.5]]"  # a job lasting about 3 s: in flight when the database dies
OUTAGE_S = 6.0
#: A request this long unanswered is a hang (the store must refuse at once, not wait for the database).
CLIENT_TIMEOUT_S = 20.0
#: After PostgreSQL accepts connections again, how long oculi may take to notice (pool ping on next use).
RECONNECT_SLACK_S = 3.0


@dataclass
class Call:
    kind: str
    started: float
    ended: float
    status: int  # 0: no answer (timeout or connection error)
    retry_after: str | None
    body: dict[str, object]


@pytest.fixture
def pg() -> Iterator[PrivatePostgres]:
    try:
        with private_postgres() as cluster:
            yield cluster
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def _call(client: httpx.Client, kind: str, method: str, url: str, **kwargs: object) -> Call:
    started = time.monotonic()
    try:
        answer = client.request(method, url, headers=AUTH, timeout=CLIENT_TIMEOUT_S, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError:
        return Call(kind, started, time.monotonic(), 0, None, {})
    try:
        body = answer.json()
    except ValueError:
        body = {}
    return Call(kind, started, time.monotonic(), answer.status_code, answer.headers.get("retry-after"), body)


def _load(server: ServerProcess, stop: threading.Event, calls: list[Call], acked: dict[str, str]) -> None:
    """Store responses and ask store-less chat completions until ``stop``."""
    with httpx.Client() as client:
        i = 0
        while not stop.is_set():
            i += 1
            stored = _call(
                client,
                "stored",
                "POST",
                f"{server.v1}/responses",
                json={"model": "grok-4", "input": f"r{i} [[tokens:3]]"},
            )
            calls.append(stored)
            if stored.status == 200:
                acked[str(stored.body["id"])] = str(stored.body["output"][0]["content"][0]["text"])  # type: ignore[index]
            body = {"model": "grok-4", "messages": [{"role": "user", "content": f"c{i} [[tokens:3]]"}]}
            calls.append(_call(client, "chat", "POST", f"{server.v1}/chat/completions", json=body))
            time.sleep(0.05)


def test_postgres_killed_and_restarted_under_load(pg: PrivatePostgres) -> None:
    with running_server(api_keys=[KEY], store_url=pg.url, scripted=True, env=ENV) as server:
        http = httpx.Client(headers=AUTH, timeout=CLIENT_TIMEOUT_S)
        # Work in flight when the database dies: deferred completions and a batch (xai-sdk).
        deferred = []
        for i in range(3):
            body = {"model": "grok-4", "deferred": True, "messages": [{"role": "user", "content": f"d{i} {SLOW}"}]}
            answer = http.post(f"{server.v1}/chat/completions", json=body)
            assert answer.status_code == 200, answer.text
            deferred.append(answer.json()["request_id"])
        xai = xai_sdk.Client(api_host=server.grpc_address, api_key=KEY)
        batch = xai.batch.create("outage")
        chats = []
        for i in range(6):
            chat = xai.chat.create(model="grok-4", batch_request_id=f"b{i}")
            chat.append(user(f"b{i} {SLOW}"))
            chats.append(chat)
        xai.batch.add(batch.batch_id, chats)

        calls: list[Call] = []
        acked: dict[str, str] = {}
        stop = threading.Event()
        load = threading.Thread(target=_load, args=(server, stop, calls, acked))
        load.start()

        # A chunked upload whose bytes are all sent while the database is down: it must wait, then be stored.
        chunk = bytes(range(256)) * 4096  # 1 MiB
        upload: dict[str, object] = {}
        killed = threading.Event()

        def body() -> Iterator[bytes]:
            yield chunk
            killed.wait(30)
            time.sleep(1.0)
            yield chunk

        def send_upload() -> None:
            files = {"file": ("outage.bin", _Stream(body()), "application/octet-stream")}
            answer = httpx.post(f"{server.v1}/files", headers=AUTH, files=files, data={"purpose": "batch"}, timeout=60)
            upload.update(status=answer.status_code, body=answer.json())

        uploader = threading.Thread(target=send_upload)
        uploader.start()
        time.sleep(2.0)

        down = time.monotonic()
        pg.kill()
        killed.set()
        time.sleep(OUTAGE_S)
        pg.start()
        up = time.monotonic()
        time.sleep(5.0)
        stop.set()
        load.join(timeout=CLIENT_TIMEOUT_S + 5)
        uploader.join(timeout=60)

        # 1. Every request answered; outside the outage nothing failed; inside, only the store's 503.
        outage = (down, up + RECONNECT_SLACK_S)
        assert calls and all(c.status != 0 for c in calls), "a request got no answer (hang or dropped connection)"
        overlapping = [c for c in calls if c.ended >= outage[0] and c.started <= outage[1]]
        for c in calls:
            if c.status == 200:
                continue
            assert c in overlapping, f"{c.kind} failed outside the outage: {c.status} {c.body}"
            assert c.status == 503 and c.retry_after is not None, f"{c.kind} during the outage: {c.status} {c}"
            assert c.body.get("code") == "store_unavailable" and "store is unavailable" in str(c.body.get("error"))
        refused = [c for c in overlapping if c.kind == "stored" and c.status == 503]
        assert refused, "no stored response was refused: the load did not reach the outage"
        assert all(c.status == 200 for c in calls if c.kind == "chat"), "a request needing no store failed"
        assert any(c.status == 200 and c.started > up for c in calls if c.kind == "stored"), "no reconnect"

        # 2. Everything acknowledged reads back (before and after the outage).
        for response_id, text in acked.items():
            got = http.get(f"{server.v1}/responses/{response_id}")
            assert got.status_code == 200, (response_id, got.text)
            assert got.json()["output"][0]["content"][0]["text"] == text

        # 3. The upload in flight waited for the store and is stored whole.
        assert upload.get("status") == 200, upload
        file_id = upload["body"]["id"]  # type: ignore[index]
        assert http.get(f"{server.v1}/files/{file_id}/content").content == chunk * 2

        # 4. The jobs in flight paused and finished, each exactly once.
        deadline = time.monotonic() + 90
        for request_id in deferred:
            while True:
                polled = http.get(f"{server.v1}/chat/deferred-completion/{request_id}")
                if polled.status_code == 200:
                    break
                assert polled.status_code == 202 and time.monotonic() < deadline, polled.text
                time.sleep(0.5)
        while (state := xai.batch.get(batch.batch_id).state).num_pending:
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        assert (state.num_success, state.num_error) == (6, 0)
        rows = _rows(pg.url, "SELECT state, completed_by IS NOT NULL, attempts FROM jobs")
        assert len(rows) == 9 and all(r[0] == "succeeded" and r[1] for r in rows), rows

        # 5. Nothing half-written: every file's stored chunks add up to its size.
        sizes = _rows(
            pg.url,
            "SELECT f.id, f.bytes, COALESCE(SUM(LENGTH(c.data)), 0) FROM files f "
            "LEFT JOIN file_chunks c ON c.sha256 = f.sha256 GROUP BY f.id, f.bytes",
        )
        assert sizes and all(r[1] == r[2] for r in sizes), sizes


class _Stream:
    """A file-like object over an iterator, so httpx streams the multipart body chunk by chunk."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> bytes:
        return next(self._chunks, b"")


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
