"""Store fixtures: every test runs against a fresh SQLite file and a fresh PostgreSQL schema.

PostgreSQL comes from ``OCULI_TEST_PG_URL`` (CI sets it). When that is unset the
local default server is tried; if none answers the PostgreSQL cases are skipped
with the reason shown in the summary. When the variable IS set and the server
does not answer, the PostgreSQL cases fail: CI must never skip them silently.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from oculi.store import Store
from oculi.store.connection import parse_store_url

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A reachable PostgreSQL server URL (skip or fail as the module docstring says)."""
    configured = os.environ.get("OCULI_TEST_PG_URL")
    url = configured or DEFAULT_PG_URL
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if configured:
            pytest.fail(f"OCULI_TEST_PG_URL={configured} is set but the server is unreachable: {exc}")
        pytest.skip(f"PostgreSQL store tests skipped: OCULI_TEST_PG_URL is unset and {DEFAULT_PG_URL} is unreachable")
    return url


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` (libpq ``options``)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL nobody else uses: a new SQLite file (dir not created yet) or a new PG schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'oculi.db'}"
        return
    base = request.getfixturevalue("pg_url")
    schema = f"oculi_test_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An opened store on ``store_url``; no background purge, so tests purge explicitly."""
    opened = Store(store_url, retention_days=30, purge_interval_s=0)
    await opened.open()
    yield opened
    await opened.close()


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` read straight from the database behind a store URL (what is really on disk)."""
    engine = create_engine(parse_store_url(url))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


@pytest.fixture
def rows(store_url: str) -> Callable[[str], list[tuple[object, ...]]]:
    """``rows(sql)``: query the database behind ``store_url`` directly."""
    return lambda sql: query(store_url, sql)
