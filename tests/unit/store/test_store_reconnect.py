"""The store through a database outage: fast 503, reconnect without reopening, work in flight paused, nothing lost.

The outage is real from the store's side: it reaches PostgreSQL through a TCP
proxy in this test that is cut (every connection reset, new ones refused)
and brought back on the same port, so the shared server is never touched.
(``tests/e2e/test_store_outage.py`` kills a private PostgreSQL under a live
server instead.)
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator

import psycopg
import pytest

from oculi.domain import Conversation, Message, Role, TextPart
from oculi.errors import StoreUnavailable
from oculi.store import FileLimits, ResponseStatus, Store, StoredResponse
from oculi.store.jobs import JobKind, JobState, NewJob
from oculi.testing.server import free_port

pytestmark = pytest.mark.postgres


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut and restored (see module docstring)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, as when the database host dies
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def cut(pg_url: str) -> AsyncIterator[tuple[Proxy, Store]]:
    """A store on a fresh schema of the test PostgreSQL, reached through a ``Proxy``."""
    from sqlalchemy.engine import make_url

    schema = f"oculi_outage_{secrets.token_hex(6)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = make_url(f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}")
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    await proxy.up()
    store = Store(
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        retention_days=30,
        purge_interval_s=0,
    )
    await store.open()
    yield proxy, store
    if not proxy.is_up:
        await proxy.up()
    await store.close()
    await proxy.down()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def record(response_id: str) -> StoredResponse:
    now = int(time.time())
    return StoredResponse(
        id=response_id,
        owner="owner",
        model="m",
        created_at=now,
        expires_at=now + 3600,
        status=ResponseStatus.COMPLETED,
        surface="responses",
        conversation=Conversation([Message(Role.USER, [TextPart(f"question {response_id}")])]),
    )


async def test_requests_fail_fast_and_the_pool_reconnects(cut: tuple[Proxy, Store]) -> None:
    proxy, store = cut
    await store.responses.put_response(record("resp_before"))
    await proxy.down()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="store is unavailable") as info:
        await store.responses.get_response("resp_before", "owner")
    assert time.monotonic() - started < 5  # refused at once, not after a connect timeout
    assert info.value.status == 503 and info.value.http_headers()["retry-after"]
    assert not store.db.available
    with pytest.raises(StoreUnavailable):
        await store.ping()
    await proxy.up()
    got = await store.responses.get_response("resp_before", "owner")  # same store object: reconnected
    assert got is not None and got.conversation == record("resp_before").conversation
    assert store.db.available


async def test_an_upload_in_flight_waits_for_the_store(cut: tuple[Proxy, Store]) -> None:
    proxy, store = cut
    half = b"0123456789abcdef" * 65536  # 1 MiB
    sent_half = asyncio.Event()
    finish = asyncio.Event()

    async def stream() -> AsyncIterator[bytes]:
        yield half
        sent_half.set()
        await finish.wait()
        yield half

    limits = FileLimits(max_bytes=10 * half.__len__())
    upload = asyncio.create_task(store.files.put_file("owner", "big.bin", "batch", stream(), limits=limits))
    await sent_half.wait()
    await proxy.down()
    finish.set()  # every byte is in while the database is down
    await asyncio.sleep(1.5)
    assert not upload.done()  # paused, not refused
    await proxy.up()
    stored = await asyncio.wait_for(upload, 40)
    assert (await store.files.read_file(stored.id, "owner"))[1] == half * 2
    assert (await store.files.file_usage("owner")) == (1, 2 * len(half))  # stored once


async def test_a_job_result_is_written_once_after_the_outage(cut: tuple[Proxy, Store]) -> None:
    proxy, store = cut
    job = NewJob(id="job-1", kind=JobKind.DEFERRED, owner="owner", request_key="job-1", payload={})
    await store.jobs.enqueue([job], response=record("job-1"))
    [claimed] = await store.jobs.claim("w", 1, 60_000)
    await proxy.down()
    with pytest.raises(StoreUnavailable):
        await store.jobs.complete(claimed, "w", JobState.SUCCEEDED, result={"ok": 1})
    await proxy.up()
    assert await store.jobs.complete(claimed, "w", JobState.SUCCEEDED, result={"ok": 1})
    assert not await store.jobs.complete(claimed, "w", JobState.SUCCEEDED, result={"ok": 2})  # never twice
    done = await store.jobs.job("job-1")
    assert done is not None and (done.state, done.result, done.completed_by) == (JobState.SUCCEEDED, {"ok": 1}, "w")
