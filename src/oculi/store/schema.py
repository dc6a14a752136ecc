"""The store's tables and the migrations that create them.

The schema is owned by the plain-SQL files in ``migrations/``; the SQLAlchemy
``Table`` objects here only mirror it so queries are built with Core instead of
strings. A file is named ``NNNN_name.sql`` (works on every dialect) or
``NNNN_name.<dialect>.sql`` (``sqlite`` / ``postgresql``) when the dialects
need different SQL; for each version the dialect's own file wins.

Migrations run at ``open()`` inside one write transaction that first takes a
lock, so several server processes starting at once against the same database
apply each migration exactly once: PostgreSQL takes a transaction-scoped
advisory lock (keyed by the current schema, so stores in different schemas do
not wait on each other), SQLite a ``BEGIN IMMEDIATE`` write lock. Both dialects
have transactional DDL, so a failed migration leaves nothing half-applied.
Each applied version is recorded in ``schema_migrations``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import BigInteger, Column, Connection, Integer, LargeBinary, MetaData, Table, Text, select

from oculi.errors import InvalidRequest

metadata = MetaData()

responses = Table(
    "responses",
    metadata,
    Column("id", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("surface", Text, nullable=False),
    Column("previous_response_id", Text),
    Column("conversation", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("choices", Text, nullable=False),
    Column("usage", Text),
    Column("error", Text),
    Column("metadata", Text, nullable=False),
)

images = Table(
    "images",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=False),
)

response_images = Table(
    "response_images",
    metadata,
    Column("response_id", Text, primary_key=True),
    Column("sha256", Text, primary_key=True),
)

file_blobs = Table(
    "file_blobs",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("image_mime", Text),  # the image header, when the bytes are a JPEG/PNG (0004_file_images)
    Column("image_width", Integer),
    Column("image_height", Integer),
    Column("image_orientation", Integer),
)

file_chunks = Table(
    "file_chunks",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

files = Table(
    "files",
    metadata,
    Column("id", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("filename", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)

_CREATE_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
)
# hashtext() gives a stable int4 per schema name; the xact lock is released at commit.
_PG_LOCK = "SELECT pg_advisory_xact_lock(hashtext('oculi.store.migrations:' || current_schema()))"
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<dialect>[a-z]+))?\.sql$")


@dataclass(frozen=True)
class Migration:
    """One schema version: its number, name and SQL statements for one dialect."""

    version: int
    name: str
    statements: list[str]


def split_statements(sql: str) -> list[str]:
    """Split a migration file into statements (``--`` comments dropped; no ``;`` inside literals)."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def load_migrations(dialect: str) -> list[Migration]:
    """The packaged migrations for ``dialect``, in version order."""
    chosen: dict[int, tuple[str, str, bool]] = {}  # version -> (name, file, dialect-specific)
    for entry in resources.files("oculi.store").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None or match["dialect"] not in (None, dialect):
            continue
        version, specific = int(match["version"]), match["dialect"] is not None
        if version not in chosen or specific:
            chosen[version] = (match["name"], entry.name, specific)
    folder = resources.files("oculi.store").joinpath("migrations")
    return [
        Migration(version, name, split_statements(folder.joinpath(file).read_text(encoding="utf-8")))
        for version, (name, file, _) in sorted(chosen.items())
    ]


def migrate(conn: Connection, dialect: str) -> list[int]:
    """Apply pending migrations on ``conn`` (inside its write transaction); return versions applied.

    Raises ``InvalidRequest`` (param ``store_url``) when the database was
    migrated by a newer oculi than this one: old code on a newer schema could
    corrupt it.
    """
    if dialect == "postgresql":
        conn.exec_driver_sql(_PG_LOCK)
    conn.exec_driver_sql(_CREATE_SCHEMA_MIGRATIONS)
    applied = set(conn.execute(select(schema_migrations.c.version)).scalars())
    known = load_migrations(dialect)
    newest_known = max((m.version for m in known), default=0)
    if applied and max(applied) > newest_known:
        raise InvalidRequest(
            f"The response store's schema is at version {max(applied)}, newer than this oculi knows "
            f"({newest_known}). Upgrade oculi, or point store_url at another store.",
            param="store_url",
        )
    done = []
    for migration in known:
        if migration.version in applied:
            continue
        for statement in migration.statements:
            conn.exec_driver_sql(statement)
        conn.execute(
            schema_migrations.insert().values(
                version=migration.version, name=migration.name, applied_at=int(time.time())
            )
        )
        done.append(migration.version)
    return done
