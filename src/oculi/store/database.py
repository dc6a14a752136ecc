"""The one database handle every part of the store runs on: engine, thread pool, migrations, outages.

Why a synchronous engine in a thread pool rather than SQLAlchemy's asyncio
extension: the async engine needs ``greenlet`` plus an async driver per
dialect (``aiosqlite``, psycopg's async mode), and ``aiosqlite`` itself runs
sqlite3 in a thread. A small private executor sized to the connection pool
gives the same concurrency with one code path for both dialects, keeps the
event loop free during fsyncs and network round trips, and never waits for a
pooled connection (threads == connections).

Every call is one transaction (``run``): it commits as a whole or not at all,
so a database that dies halfway leaves nothing half-written. A call that
meets an outage (refused connection, dropped socket, server restarting)
raises ``StoreUnavailable`` (503 with ``Retry-After``) at once, never waits
for the database; the pool pings connections before use, so the first call
after the database is back reconnects without a restart of oculi.

``available`` says whether the last call reached the database; work already
in flight when it went away (an upload whose bytes are spooled, a job whose
result is computed) uses ``wait`` to pause until it is back instead of
throwing its work away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from oculi.errors import StoreUnavailable
from oculi.store.connection import WRITE, create_store_engine, parse_store_url, unavailable_on_db_outage
from oculi.store.schema import migrate

log = logging.getLogger(__name__)
T = TypeVar("T")

DAY_S = 86_400
#: How often ``wait`` tries the database while it is down.
WAIT_POLL_S = 0.5


class Database:
    """One engine and its executor, shared by the store's parts (see module docstring)."""

    def __init__(self, url: str, *, retention_days: float, pool_size: int = 4) -> None:
        self.url = parse_store_url(url)  # raises InvalidRequest before anything is touched
        self.dialect = self.url.get_backend_name()  # "sqlite" or "postgresql"
        self.retention_s = int(retention_days * DAY_S)
        self.where = self.url.render_as_string(hide_password=True)
        self._pool_size = pool_size
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._opening = asyncio.Lock()
        self._down_since: float | None = None

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    @property
    def available(self) -> bool:
        """False from a call that met an outage until one gets through again."""
        return self._down_since is None

    def expires_at_for(self, created_at: int) -> int:
        """When a record created at ``created_at`` expires under the retention."""
        return created_at + self.retention_s

    async def open(self) -> list[int]:
        """Connect and apply pending migrations (idempotent); return the versions applied."""
        async with self._opening:  # two concurrent open() calls must not build two engines
            if self._engine is not None:
                return []
            engine = create_store_engine(self.url, pool_size=self._pool_size)
            executor = ThreadPoolExecutor(max_workers=self._pool_size, thread_name_prefix="oculi-store")
            try:
                with unavailable_on_db_outage(f"connecting to {self.where}"):
                    applied = await asyncio.get_running_loop().run_in_executor(executor, self._migrate, engine)
            except BaseException:
                executor.shutdown(wait=False)
                engine.dispose()
                raise
            self._engine, self._executor = engine, executor
            return applied

    async def close(self) -> None:
        """Wait for running calls, close every connection."""
        engine, executor = self._engine, self._executor
        self._engine = self._executor = None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True)
        if engine is not None:
            await asyncio.to_thread(engine.dispose)  # closing SQLite connections may checkpoint the WAL

    async def ping(self) -> None:
        """One ``SELECT 1`` round trip; ``StoreUnavailable`` when the database does not answer."""
        await self.run(_select_one, write=False, what="checking the database")

    async def run(self, fn: Callable[..., T], *args: Any, write: bool, what: str) -> T:
        """Run ``fn(conn, *args)`` in one transaction on the executor; outages become ``StoreUnavailable``."""
        engine, executor = self._engine, self._executor
        if engine is None or executor is None:
            raise RuntimeError("the store is not open: await store.open() first")

        def transaction() -> T:
            with engine.connect().execution_options(**{WRITE: write}) as conn, conn.begin():
                return fn(conn, *args)

        try:
            with unavailable_on_db_outage(what):
                result = await asyncio.get_running_loop().run_in_executor(executor, transaction)
        except StoreUnavailable:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("store %s: the database is not answering (%s)", self.where, what)
            raise
        if self._down_since is not None:
            log.info("store %s: the database answers again after %.1fs", self.where, self.down_for())
            self._down_since = None
        return result

    def down_for(self) -> float:
        """Seconds since the outage began (0 while available)."""
        return 0.0 if self._down_since is None else time.monotonic() - self._down_since

    async def wait(self, within_s: float) -> bool:
        """Pause until the database answers (True) or ``within_s`` seconds pass (False)."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                await self.ping()
                return True
            except StoreUnavailable:
                if time.monotonic() >= deadline:
                    return False
                await asyncio.sleep(WAIT_POLL_S)

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_*`` (same API on SQLite and PostgreSQL)."""
        return pg_insert(table) if self.dialect == "postgresql" else sqlite_insert(table)

    def _migrate(self, engine: Engine) -> list[int]:
        with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            return migrate(conn, self.dialect)


def _select_one(conn: Connection) -> None:
    conn.exec_driver_sql("SELECT 1")
