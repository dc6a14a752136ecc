"""Opening, migrating, durability and bad configuration of the store."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from oculi.errors import InvalidRequest, Unavailable
from oculi.store import Store, open_store
from oculi.store.connection import parse_store_url
from oculi.store.schema import load_migrations

Rows = Callable[[str], list[tuple[object, ...]]]

# Opens the store at argv[1] (migrating it) at wall-clock time argv[3], so that
# several children really race; with argv[2] == "write", stores a response,
# reports it acknowledged and dies at once without closing anything.
CHILD = """
import asyncio, hashlib, os, sys, time
from oculi.domain import Conversation, Detail, ImagePart, Message, Role, TextPart
from oculi.store import ResponseStatus, StoredResponse, open_store

async def main() -> None:
    time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
    store = await open_store(sys.argv[1], retention_days=30, purge_interval_s=0)
    if sys.argv[2] == "write":
        data = b"durable image bytes"
        h = hashlib.sha256(data).hexdigest()
        await store.responses.put_images({h: data})
        now = int(time.time())
        conv = Conversation([Message(Role.USER, [TextPart("hi"), ImagePart.stored(h, Detail.LOW)])])
        await store.responses.put_response(StoredResponse(
            "resp_durable", "owner", "m", now, now + 3600, ResponseStatus.COMPLETED, "responses", conv))
        print("acknowledged", h, flush=True)
        os._exit(0)  # a crash right after the acknowledgement: no close, no WAL checkpoint
    print("opened", flush=True)

asyncio.run(main())
"""


def start_child(url: str, mode: str, start_at: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, mode, str(start_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_sqlite_file_and_directory_are_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "oculi.db"
    store = await open_store(f"sqlite:///{path}", retention_days=30, purge_interval_s=0)
    await store.close()
    assert path.is_file()
    with sqlite3.connect(path) as conn:  # journal_mode=WAL is persistent in the file
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_migrations_are_recorded_once_and_reopen_is_harmless(store: Store, store_url: str, rows: Rows) -> None:
    await store.open()  # already open: nothing happens
    again = await open_store(store_url, retention_days=30, purge_interval_s=0)
    await again.close()
    expected = [(m.version, m.name) for m in load_migrations(store.dialect)]
    assert expected and rows("SELECT version, name FROM schema_migrations ORDER BY version") == expected


async def test_concurrent_first_start_of_several_processes(store_url: str, rows: Rows) -> None:
    start_at = time.time() + 2.5  # after every child has imported its modules
    children = [start_child(store_url, "open", start_at) for _ in range(3)]
    results = await asyncio.gather(*(asyncio.to_thread(c.communicate, timeout=60) for c in children))
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0 and out.strip() == "opened", err
    versions = [m.version for m in load_migrations(Store(store_url, retention_days=1).dialect)]
    assert rows("SELECT version FROM schema_migrations ORDER BY version") == [(v,) for v in versions]


async def test_acknowledged_write_survives_a_hard_exit(store_url: str) -> None:
    child = start_child(store_url, "write")
    out, err = await asyncio.to_thread(child.communicate, timeout=60)
    assert child.returncode == 0 and out.startswith("acknowledged"), err
    sha256 = out.split()[1]

    store = await open_store(store_url, retention_days=30, purge_interval_s=0)
    try:
        got = await store.responses.get_response("resp_durable", "owner")
        assert got is not None and got.conversation.images()[0].stored_sha256 == sha256
        assert await store.responses.get_image(sha256) == b"durable image bytes"
    finally:
        await store.close()


async def test_schema_newer_than_the_code_is_refused(store: Store, store_url: str) -> None:
    del store  # only here to create and migrate the database
    # Simulate a newer oculi having migrated this database.
    engine = create_engine(parse_store_url(store_url))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO schema_migrations VALUES (9999, 'future', :t)"), {"t": int(time.time())})
    engine.dispose()
    with pytest.raises(InvalidRequest, match="newer than this oculi") as caught:
        await open_store(store_url, retention_days=30, purge_interval_s=0)
    assert caught.value.param == "store_url"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/db", "Unsupported store URL scheme 'mysql'"),
        ("sqlite://", "must be a file"),
        ("sqlite:///:memory:", "must be a file"),
        ("no scheme at all", "not a database URL"),
    ],
)
def test_unusable_urls_are_refused_by_name(url: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as caught:
        Store(url, retention_days=30)
    assert caught.value.param == "store_url"


async def test_uncreatable_sqlite_directory_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(InvalidRequest, match="Cannot create the directory"):
        await open_store(f"sqlite:///{blocker / 'sub' / 'oculi.db'}", retention_days=30)


async def test_unreachable_postgresql_is_unavailable_not_a_crash() -> None:
    with pytest.raises(Unavailable, match=r"connecting to postgresql\+psycopg://postgres@127.0.0.1:1/test"):
        await open_store("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2", retention_days=30)


async def test_calls_on_a_closed_store_say_so(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'oculi.db'}", retention_days=1, purge_interval_s=0)
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match=r"await store.open\(\) first"):
        await store.responses.get_image("0" * 64)
    assert store.db.expires_at_for(100) == 100 + 86400
