"""Store URLs to SQLAlchemy engines, tuned per dialect for durability and concurrency.

``sqlite:///relative/path`` / ``sqlite:////absolute/path``
    The stdlib ``sqlite3`` driver. The file and its parent directory are
    created on first start. Every connection runs in WAL mode (readers never
    block the writer, and two server processes can share the file) with
    ``synchronous=FULL``: WAL with ``NORMAL`` survives a process crash but may
    lose the last commits on power loss or an OS crash, and the SPEC says
    nothing acknowledged is lost, so every commit fsyncs the WAL (a few ms on
    SSDs; the store is written once per response, not per token).
    pysqlite's own transaction handling is switched off and transactions are
    begun explicitly: writes with ``BEGIN IMMEDIATE``, which takes the write
    lock up front so two writers queue on the busy timeout instead of failing
    with ``SQLITE_BUSY`` halfway through; reads with a plain ``BEGIN`` so they
    see one consistent snapshot.
``postgresql://user@host:port/db`` (also ``postgres://``, ``postgresql+psycopg://``)
    psycopg 3 (``postgresql+psycopg``). PostgreSQL commits are durable by
    default (``synchronous_commit=on``). Libpq parameters pass through the
    query string, e.g. ``?options=-csearch_path%3Dmyschema`` to use a schema.
    Pooled connections are pinged before use so a restarted server is
    reconnected to instead of surfacing a dead socket.

Driver errors that mean "the database is not answering right now" (refused
connection, lock wait timeout, dropped socket, server shutting down or
starting up) become ``StoreUnavailable`` (503 with ``Retry-After`` / gRPC
``UNAVAILABLE``), which clients retry; everything else is a bug.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import ConnectionPoolEntry

from oculi.errors import InvalidRequest, StoreUnavailable

# Execution option marking a connection whose transaction will write (SQLite: BEGIN IMMEDIATE).
WRITE = "oculi_write"
SQLITE_BUSY_TIMEOUT_S = 30.0
PG_CONNECT_TIMEOUT_S = 10

_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}
_PG_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}


def parse_store_url(url: str) -> URL:
    """Validate a store URL and name its driver; ``InvalidRequest`` (param ``store_url``) when unusable."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise InvalidRequest(
            f"The store URL {url!r} is not a database URL. Use sqlite:///path/to/oculi.db or "
            "postgresql://user@host:5432/dbname.",
            param="store_url",
        ) from exc
    if parsed.drivername in _SQLITE_DRIVERS:
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("mode") == "memory":
            raise InvalidRequest(
                "The SQLite store must be a file (sqlite:///path/to/oculi.db); an in-memory database "
                "would lose every stored response on restart and is not shared between connections.",
                param="store_url",
            )
        return parsed.set(drivername="sqlite+pysqlite")
    if parsed.drivername in _PG_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    raise InvalidRequest(
        f"Unsupported store URL scheme {parsed.drivername!r}: use sqlite:///path/to/oculi.db or "
        "postgresql://user@host:5432/dbname (driver psycopg).",
        param="store_url",
    )


def create_store_engine(url: URL, *, pool_size: int) -> Engine:
    """An engine for a URL from ``parse_store_url``: SQLite file created, pragmas and BEGIN set up."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, pool_size=pool_size)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return create_engine(url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL, *, pool_size: int) -> Engine:
    path = Path(url.database or "").expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidRequest(
            f"Cannot create the directory {str(path.parent)!r} for the SQLite store ({exc.strerror}). "
            "Choose a writable path with --store sqlite:///path/to/oculi.db.",
            param="store_url",
        ) from exc
    engine = create_engine(
        url.set(database=str(path)),
        pool_size=pool_size,
        max_overflow=0,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        # Autocommit at the driver level: transactions are begun in _on_begin instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")  # response_images rows cascade with their response
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine


@contextmanager
def unavailable_on_db_outage(what: str) -> Iterator[None]:
    """Turn "database not answering" driver errors into ``StoreUnavailable`` naming ``what`` failed."""
    try:
        yield
    except (OperationalError, InterfaceError, PoolTimeoutError) as exc:
        raise _unavailable(what) from exc
    except DBAPIError as exc:
        if not exc.connection_invalidated:  # the connection died under the statement: an outage too
            raise
        raise _unavailable(what) from exc


def _unavailable(what: str) -> StoreUnavailable:
    return StoreUnavailable(f"The store is unavailable: its database is not answering ({what}). Retry shortly.")
