"""The response store on SQLite (default) or PostgreSQL, with SQLAlchemy Core.

Two ways to get one (both leave an opened, migrated store):

    store = await open_store("sqlite:///data/oculi.db", retention_days=30)

    store = SqlStore(url, retention_days=30)   # e.g. built by create_app, opened in its lifespan
    await store.open()

Why a synchronous engine in a thread pool rather than SQLAlchemy's asyncio
extension: the async engine needs ``greenlet`` plus an async driver per
dialect (``aiosqlite``, psycopg's async mode), and ``aiosqlite`` itself runs
sqlite3 in a thread. A small private executor sized to the connection pool
gives the same concurrency with one code path for both dialects, keeps the
event loop free during fsyncs and network round trips, and never waits for a
pooled connection (threads == connections).

Images are content-addressed: ``put_images`` stores each sha256 once (insert
if absent) and refreshes ``last_used_at`` of those already there;
``put_response`` links the response to every ``stored:<sha256>`` image of its
conversation (``response_images``). ``purge_expired`` deletes expired responses
(their links cascade) and then images that no response links to and that were
not used within ``image_grace_s``: the grace keeps images a caller has just
put, and is about to reference from a response still being generated, from
being collected in between. Callers therefore ``put_images`` every image of a
conversation (stored ones included) before generating, then ``put_response``.

Expired responses are invisible to ``get_response`` / ``delete_response`` at
once; their rows go at the next purge, which the store runs itself every
``purge_interval_s`` while open (several replicas purging is harmless).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, Row, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from oculi.domain import Choice, Conversation, GenerationParams, Usage
from oculi.store.base import ResponseStatus, Store, StoredResponse
from oculi.store.connection import WRITE, create_store_engine, parse_store_url, unavailable_on_db_outage
from oculi.store.files import SqlFiles
from oculi.store.job_tables import job_images, purge_expired_jobs
from oculi.store.schema import images as images_table
from oculi.store.schema import migrate, response_images, responses

log = logging.getLogger(__name__)
T = TypeVar("T")

DAY_S = 86_400


class SqlStore(SqlFiles):
    """``Store`` on SQLite or PostgreSQL (see the module docstring); one instance per server process.

    The Files API's methods come from ``SqlFiles`` (``store/files.py``).
    """

    def __init__(
        self,
        url: str,
        *,
        retention_days: float,
        image_grace_s: int = 3600,
        purge_interval_s: float = 3600,
        pool_size: int = 4,
    ) -> None:
        self.url = parse_store_url(url)  # raises InvalidRequest before anything is touched
        self.dialect = self.url.get_backend_name()  # "sqlite" or "postgresql"
        self.retention_s = int(retention_days * DAY_S)
        self.image_grace_s = image_grace_s
        self.purge_interval_s = purge_interval_s
        self._pool_size = pool_size
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._purger: asyncio.Task[None] | None = None
        self._opening = asyncio.Lock()

    def expires_at_for(self, created_at: int) -> int:
        """When a response created at ``created_at`` expires under this store's retention."""
        return created_at + self.retention_s

    # --- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        """Connect, apply pending migrations and start the purge loop (idempotent)."""
        async with self._opening:  # two concurrent open() calls must not build two engines
            if self._engine is None:
                await self._open()

    async def _open(self) -> None:
        engine = create_store_engine(self.url, pool_size=self._pool_size)
        executor = ThreadPoolExecutor(max_workers=self._pool_size, thread_name_prefix="oculi-store")
        where = self.url.render_as_string(hide_password=True)
        try:
            with unavailable_on_db_outage(f"connecting to {where}"):
                applied = await asyncio.get_running_loop().run_in_executor(executor, self._migrate, engine)
        except BaseException:
            executor.shutdown(wait=False)
            engine.dispose()
            raise
        self._engine, self._executor = engine, executor
        if applied:
            log.info("store %s: applied migrations %s", where, applied)
        if self.purge_interval_s > 0:
            self._purger = asyncio.create_task(self._purge_loop(), name="oculi-store-purge")

    async def close(self) -> None:
        """Stop the purge loop, wait for running calls, close every connection."""
        if self._purger is not None:
            self._purger.cancel()
            await asyncio.gather(self._purger, return_exceptions=True)
            self._purger = None
        engine, executor = self._engine, self._executor
        self._engine = self._executor = None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True)
        if engine is not None:
            await asyncio.to_thread(engine.dispose)  # closing SQLite connections may checkpoint the WAL

    async def ping(self) -> None:
        """One ``SELECT 1`` round trip (``/health/ready``); ``Unavailable`` when the database does not answer."""
        await self._run(_select_one, write=False, what="readiness check")

    # --- images ------------------------------------------------------------------

    async def put_images(self, images: dict[str, bytes]) -> None:
        """Keep each image once under its sha256; existing ones are left alone but marked used now.

        A key that is not the sha256 hex digest of its bytes is a caller bug (``ValueError``).
        """
        if images:
            await self._run(self._put_images, images, write=True, what="storing images")

    async def get_image(self, sha256: str) -> bytes | None:
        """The bytes stored under ``sha256``, or None."""
        return await self._run(self._get_image, sha256, write=False, what="reading an image")

    async def image_sizes(self, hashes: list[str]) -> dict[str, int]:
        """See ``Store.image_sizes`` (admission charges a stored conversation's images by them)."""
        if not hashes:
            return {}
        return await self._run(self._image_sizes, hashes, write=False, what="reading image sizes")

    # --- responses ------------------------------------------------------------------

    async def put_response(self, response: StoredResponse) -> None:
        """Insert or replace ``response`` (replace is how a deferred request completes).

        Every ``stored:<sha256>`` image of its conversation must already be in the
        store (``put_images`` first); a missing one, or replacing another owner's
        response, is a caller bug (``ValueError``).
        """
        await self._run(self._put_response, response, write=True, what="storing a response")

    async def get_response(self, response_id: str, owner: str) -> StoredResponse | None:
        """The response if it exists, belongs to ``owner`` and has not expired."""
        return await self._run(self._get_response, response_id, owner, write=False, what="reading a response")

    async def delete_response(self, response_id: str, owner: str) -> bool:
        """Delete; False when there was nothing of ``owner``'s (and unexpired) to delete."""
        return await self._run(self._delete_response, response_id, owner, write=True, what="deleting a response")

    async def purge_expired(self, now: int) -> int:
        """Delete responses expired at ``now`` and unreferenced images idle past the grace; count responses."""
        return await self._run(self._purge_expired, now, write=True, what="purging expired responses")

    # --- blocking implementations (run in the executor) -------------------------------

    def _migrate(self, engine: Engine) -> list[int]:
        with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            return migrate(conn, self.dialect)

    def _put_images(self, conn: Connection, images: dict[str, bytes]) -> None:
        for sha256, data in images.items():
            if hashlib.sha256(data).hexdigest() != sha256:
                raise ValueError(f"put_images: key {sha256!r} is not the sha256 hex digest of its bytes")
        now = int(time.time())
        hashes = sorted(images)
        present = set(conn.execute(select(images_table.c.sha256).where(images_table.c.sha256.in_(hashes))).scalars())
        if present:
            conn.execute(update(images_table).where(images_table.c.sha256.in_(present)).values(last_used_at=now))
        missing = [h for h in hashes if h not in present]
        if missing:
            # Another process may insert the same hash meanwhile: the bytes are identical, keep theirs.
            rows = [{"sha256": h, "data": images[h], "created_at": now, "last_used_at": now} for h in missing]
            conn.execute(self._insert(images_table).on_conflict_do_nothing(index_elements=["sha256"]), rows)

    def _get_image(self, conn: Connection, sha256: str) -> bytes | None:
        data = conn.execute(select(images_table.c.data).where(images_table.c.sha256 == sha256)).scalar_one_or_none()
        return bytes(data) if data is not None else None  # psycopg returns memoryview for BYTEA

    def _image_sizes(self, conn: Connection, hashes: list[str]) -> dict[str, int]:
        size = func.length(images_table.c.data)  # bytes of a BLOB (SQLite) / BYTEA (PostgreSQL)
        rows = conn.execute(select(images_table.c.sha256, size).where(images_table.c.sha256.in_(hashes))).all()
        return {sha256: int(n) for sha256, n in rows}

    def _put_response(self, conn: Connection, response: StoredResponse) -> None:
        refs = sorted({h for p in response.conversation.images() if (h := p.stored_sha256) is not None})
        if refs:
            present = set(conn.execute(select(images_table.c.sha256).where(images_table.c.sha256.in_(refs))).scalars())
            if missing := [h for h in refs if h not in present]:
                raise ValueError(f"put_response {response.id}: images not in the store (put_images first): {missing}")
            conn.execute(
                update(images_table).where(images_table.c.sha256.in_(refs)).values(last_used_at=int(time.time()))
            )
        row = _to_row(response)
        stmt = self._insert(responses).values(row)
        upsert = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={k: stmt.excluded[k] for k in row if k != "id"},
            where=responses.c.owner == stmt.excluded.owner,
        )
        # RETURNING rather than rowcount: psycopg reports -1 for a conflict whose WHERE is false.
        if conn.execute(upsert.returning(responses.c.id)).first() is None:
            raise ValueError(f"put_response {response.id}: that id is taken by another owner's response")
        conn.execute(delete(response_images).where(response_images.c.response_id == response.id))
        if refs:
            conn.execute(response_images.insert(), [{"response_id": response.id, "sha256": h} for h in refs])

    def _get_response(self, conn: Connection, response_id: str, owner: str) -> StoredResponse | None:
        row = conn.execute(
            select(responses).where(
                responses.c.id == response_id,
                responses.c.owner == owner,
                responses.c.expires_at > int(time.time()),
            )
        ).one_or_none()
        return _from_row(row) if row is not None else None

    def _delete_response(self, conn: Connection, response_id: str, owner: str) -> bool:
        result = conn.execute(
            delete(responses).where(
                responses.c.id == response_id,
                responses.c.owner == owner,
                responses.c.expires_at > int(time.time()),
            )
        )
        return result.rowcount > 0  # its response_images rows go by ON DELETE CASCADE

    def _purge_expired(self, conn: Connection, now: int) -> int:
        deleted = conn.execute(delete(responses).where(responses.c.expires_at <= now)).rowcount
        purge_expired_jobs(conn, now)  # before images: a live job keeps its images (job_images)
        referenced = exists().where(response_images.c.sha256 == images_table.c.sha256)
        needed_by_job = exists().where(job_images.c.sha256 == images_table.c.sha256)
        conn.execute(
            delete(images_table).where(
                ~referenced, ~needed_by_job, images_table.c.last_used_at < now - self.image_grace_s
            )
        )
        self._purge_files(conn, now)
        return deleted

    # --- plumbing ----------------------------------------------------------------------

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_*`` (same API on SQLite and PostgreSQL)."""
        return pg_insert(table) if self.dialect == "postgresql" else sqlite_insert(table)

    async def transact(self, fn: Callable[..., T], *args: Any, write: bool, what: str) -> T:
        """Run ``fn(conn, *args)`` in one transaction (for store extensions such as ``jobs.JobQueue``)."""
        return await self._run(fn, *args, write=write, what=what)

    async def _run(self, fn: Callable[..., T], *args: Any, write: bool, what: str) -> T:
        """Run ``fn(conn, *args)`` in one transaction on the executor; outages become ``Unavailable``."""
        engine, executor = self._engine, self._executor
        if engine is None or executor is None:
            raise RuntimeError("the store is not open: await store.open() first")

        def transaction() -> T:
            with engine.connect().execution_options(**{WRITE: write}) as conn, conn.begin():
                return fn(conn, *args)

        with unavailable_on_db_outage(what):
            return await asyncio.get_running_loop().run_in_executor(executor, transaction)

    async def _purge_loop(self) -> None:
        while True:
            try:
                if removed := await self.purge_expired(int(time.time())):
                    log.info("store: purged %d expired responses", removed)
            except Exception:
                # A database outage must not kill the loop: the next round retries.
                log.exception("store: purging expired responses failed")
            await asyncio.sleep(self.purge_interval_s)


def _select_one(conn: Connection) -> None:
    conn.exec_driver_sql("SELECT 1")


async def open_store(url: str, *, retention_days: float, **options: Any) -> SqlStore:
    """An opened ``SqlStore`` for ``url`` (``options``: ``SqlStore``'s keyword arguments)."""
    store = SqlStore(url, retention_days=retention_days, **options)
    await store.open()
    return store


if TYPE_CHECKING:
    _implements_store: type[Store] = SqlStore  # mypy checks SqlStore against the Protocol


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _to_row(r: StoredResponse) -> dict[str, Any]:
    return {
        "id": r.id,
        "owner": r.owner,
        "model": r.model,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "status": r.status.value,
        "surface": r.surface,
        "previous_response_id": r.previous_response_id,
        "conversation": _dumps(r.conversation.to_dict()),
        "params": _dumps(r.params.to_dict()),
        "choices": _dumps([c.to_dict() for c in r.choices]),
        "usage": _dumps(r.usage.to_dict()) if r.usage is not None else None,
        "error": _dumps(r.error) if r.error is not None else None,
        "metadata": _dumps(r.metadata),
    }


def _from_row(row: Row[Any]) -> StoredResponse:
    m = row._mapping
    return StoredResponse(
        id=m["id"],
        owner=m["owner"],
        model=m["model"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        status=ResponseStatus(m["status"]),
        surface=m["surface"],
        conversation=Conversation.from_dict(json.loads(m["conversation"])),
        params=GenerationParams.from_dict(json.loads(m["params"])),
        choices=[Choice.from_dict(c) for c in json.loads(m["choices"])],
        usage=Usage.from_dict(json.loads(m["usage"])) if m["usage"] is not None else None,
        previous_response_id=m["previous_response_id"],
        error=json.loads(m["error"]) if m["error"] is not None else None,
        metadata=json.loads(m["metadata"]),
    )
