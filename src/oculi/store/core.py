"""The store: its parts (responses, files, jobs, batches) on one database handle, SQLite or PostgreSQL.

Two ways to get one (both leave an opened, migrated store):

    store = await open_store("sqlite:///data/oculi.db", retention_days=30)

    store = Store(url, retention_days=30)   # e.g. built by Runtime.open, opened there
    await store.open()

Each part is a typed object built on the one ``Database`` (``database.py``:
the engine, its thread pool, one transaction per call, outages as
``StoreUnavailable``) and is handed on by itself: the pipeline takes
``store.responses``, the Files API ``store.files``, the job worker
``store.jobs``, the batch service ``store.batches``. Nothing reaches through
one part to another; the job queue writes a deferred record through the
responses part it is given, in the job's own transaction.

Expired records are invisible at once; their rows go at the next purge,
which the store runs itself every ``purge_interval_s`` while open (several
replicas purging is harmless, and a database outage only skips a round).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import Connection

from oculi.store.batches import BatchStore
from oculi.store.database import Database
from oculi.store.files import FileStore
from oculi.store.job_tables import purge_expired_jobs
from oculi.store.jobs import JobQueue
from oculi.store.responses import ResponseStore

log = logging.getLogger(__name__)


class Store:
    """The durable store (see module docstring); one per server process."""

    def __init__(
        self,
        url: str,
        *,
        retention_days: float,
        image_grace_s: int = 3600,
        purge_interval_s: float = 3600,
        pool_size: int = 4,
        job_max_attempts: int = 3,
    ) -> None:
        self.db = Database(url, retention_days=retention_days, pool_size=pool_size)
        self.responses = ResponseStore(self.db, image_grace_s=image_grace_s)
        self.files = FileStore(self.db)
        self.batches = BatchStore(self.db)
        self.jobs = JobQueue(self.db, self.responses, max_attempts=job_max_attempts)
        self.purge_interval_s = purge_interval_s
        self._purger: asyncio.Task[None] | None = None

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.db.dialect

    async def open(self) -> None:
        """Connect, apply pending migrations and start the purge loop (idempotent; safe with several replicas)."""
        applied = await self.db.open()
        if applied:
            log.info("store %s: applied migrations %s", self.db.where, applied)
        if self.purge_interval_s > 0 and self._purger is None:
            self._purger = asyncio.create_task(self._purge_loop(), name="oculi-store-purge")

    async def close(self) -> None:
        """Stop the purge loop, wait for running calls, close every connection."""
        if self._purger is not None:
            self._purger.cancel()
            await asyncio.gather(self._purger, return_exceptions=True)
            self._purger = None
        await self.db.close()

    async def ping(self) -> None:
        """Return once the database answers ``SELECT 1`` (readiness); ``StoreUnavailable`` when it does not."""
        await self.db.ping()

    async def purge_expired(self, now: int) -> int:
        """Delete what expired at ``now`` in every part, in one transaction; return responses deleted."""
        return await self.db.run(self._purge, now, write=True, what="purging expired records")

    def _purge(self, conn: Connection, now: int) -> int:
        purge_expired_jobs(conn, now)  # before images: a live job keeps its images (job_images)
        deleted = self.responses.purge(conn, now)
        self.files.purge(conn, now)
        return deleted

    async def _purge_loop(self) -> None:
        while True:
            try:
                if removed := await self.purge_expired(int(time.time())):
                    log.info("store: purged %d expired responses", removed)
            except Exception:
                # A database outage must not kill the loop: the next round retries.
                log.exception("store: purging expired responses failed")
            await asyncio.sleep(self.purge_interval_s)


async def open_store(url: str, *, retention_days: float, **options: Any) -> Store:
    """An opened ``Store`` for ``url`` (``options``: ``Store``'s keyword arguments)."""
    store = Store(url, retention_days=retention_days, **options)
    await store.open()
    return store
