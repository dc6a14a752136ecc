"""SQLAlchemy mirrors of the job tables (``migrations/0003_jobs.sql`` owns the schema), and their purge.

Kept beside ``schema.py`` rather than in it so the job machinery reads as one
unit: ``batches`` (one row per batch), ``jobs`` (one row per deferred request
or batch request, with its lease) and ``job_images`` (images a waiting job
needs, so the purge keeps them). ``purge_expired_jobs`` is here, not in
``jobs.py``, so the store (``sql.py``) calls it without importing the queue
that is built on the store.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Integer, Table, Text, delete, select

from oculi.store.schema import metadata

batches = Table(
    "batches",
    metadata,
    Column("id", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("cancelled_at", BigInteger),
    Column("metadata", Text, nullable=False),
    Column("deadline_at", BigInteger),  # the completion window (0005_batch_window)
    Column("closed_at", BigInteger),
    Column("expired_at", BigInteger),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("batch_id", Text),
    Column("seq", BigInteger, nullable=False),
    Column("request_key", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_owner", Text),
    Column("lease_expires_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Column("expires_at", BigInteger, nullable=False),
    Column("completed_by", Text),
    Column("result", Text),
    Column("error", Text),
)

job_images = Table(
    "job_images",
    metadata,
    Column("job_id", Text, primary_key=True),
    Column("sha256", Text, primary_key=True),
)


def purge_expired_jobs(conn: Connection, now: int) -> int:
    """Delete jobs and batches past their retention (called by the store's purge); return jobs deleted."""
    expired = select(jobs.c.id).where(jobs.c.expires_at <= now).scalar_subquery()
    conn.execute(delete(job_images).where(job_images.c.job_id.in_(expired)))
    deleted = conn.execute(delete(jobs).where(jobs.c.expires_at <= now)).rowcount
    gone = select(batches.c.id).where(batches.c.expires_at <= now).scalar_subquery()
    conn.execute(delete(job_images).where(job_images.c.job_id.in_(select(jobs.c.id).where(jobs.c.batch_id.in_(gone)))))
    deleted += conn.execute(delete(jobs).where(jobs.c.batch_id.in_(gone))).rowcount
    conn.execute(delete(batches).where(batches.c.expires_at <= now))
    return deleted
