"""The job queue on SQLite and PostgreSQL: leases, exactly-once completion, bounded attempts, cancel, purge."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from oculi.errors import InvalidRequest
from oculi.store import BatchStore, Store
from oculi.store.jobs import BatchNotFound, BatchRecord, JobKind, JobQueue, JobState, NewJob

OWNER = "owner-a"


def job(i: int, batch_id: str | None = None, images: list[str] | None = None) -> NewJob:
    kind = JobKind.BATCH if batch_id else JobKind.DEFERRED
    return NewJob(
        id=f"job-{i}",
        kind=kind,
        owner=OWNER,
        request_key=f"key-{i}",
        payload={"n": i},
        images=images or [],
        batch_id=batch_id,
    )


async def new_batch(batches: BatchStore, batch_id: str = "batch-1") -> None:
    now = int(time.time())
    await batches.create_batch(BatchRecord(batch_id, OWNER, "b", now, now + 3600))


async def test_each_job_is_claimed_by_one_worker(store: Store) -> None:
    queue = store.jobs
    await queue.enqueue([job(i) for i in range(20)])
    # Claims race from many tasks (threads in the store's pool): no job is handed out twice.
    claims = await asyncio.gather(*(queue.claim(f"w{k}", 3, 60_000) for k in range(8)))
    ids = [j.id for claimed in claims for j in claimed]
    assert len(ids) == len(set(ids)) == 20
    assert await queue.claim("late", 5, 60_000) == []


async def test_expired_lease_is_taken_over_and_the_late_finisher_writes_nothing(store: Store) -> None:
    queue = store.jobs
    await queue.enqueue([job(1)])
    [first] = await queue.claim("dead", 1, 50)
    await asyncio.sleep(0.1)  # the lease (50 ms) expires
    [second] = await queue.claim("alive", 1, 60_000)
    assert (second.id, second.attempts) == (first.id, 2)
    assert await queue.renew("dead", {first.id: first.attempts}, 60_000) == {first.id}
    assert not await queue.complete(first, "dead", JobState.SUCCEEDED, result={"by": "dead"})
    assert await queue.complete(second, "alive", JobState.SUCCEEDED, result={"by": "alive"})
    assert not await queue.complete(second, "alive", JobState.FAILED, error={"code": "x"})  # written once
    stored = await queue.job(first.id)
    assert stored is not None
    assert (stored.state, stored.result, stored.completed_by) == (JobState.SUCCEEDED, {"by": "alive"}, "alive")


async def test_a_renewed_lease_is_not_taken(store: Store) -> None:
    queue = store.jobs
    await queue.enqueue([job(1)])
    [held] = await queue.claim("w", 1, 300)
    for _ in range(3):
        await asyncio.sleep(0.1)
        assert await queue.renew("w", {held.id: held.attempts}, 300) == set()
    assert await queue.claim("other", 1, 300) == []


async def test_attempts_are_bounded_and_a_hand_back_does_not_count(store: Store) -> None:
    queue = JobQueue(store.db, store.responses, max_attempts=2)
    await queue.enqueue([job(1)])
    [claimed] = await queue.claim("w", 1, 60_000)
    assert await queue.release("w", {claimed.id: claimed.attempts}) == 1
    for attempt in (1, 2):
        [claimed] = await queue.claim("w", 1, 1)
        assert (claimed.attempts, claimed.exhausted) == (attempt, False)
        await asyncio.sleep(0.01)
    [claimed] = await queue.claim("w", 1, 60_000)
    assert claimed.exhausted  # the worker fails it with a reason instead of running it a third time


async def test_deferred_jobs_go_before_batch_requests(store: Store) -> None:
    queue = store.jobs
    await new_batch(store.batches)
    await queue.enqueue([job(i, "batch-1") for i in range(3)])
    await queue.enqueue([job(9)])
    claimed = await queue.claim("w", 2, 60_000)
    assert [j.id for j in claimed] == ["job-9", "job-0"]


async def test_a_batch_past_its_window_expires_what_did_not_start(store: Store) -> None:
    queue = store.jobs
    now = int(time.time())
    # Deadlines are whole seconds: two away, so the claims below always come before it (one could fall past a
    # second boundary already when the test starts late in a second).
    await store.batches.create_batch(BatchRecord("late", OWNER, "b", now, now + 3600, deadline_at=now + 2))
    await store.batches.create_batch(BatchRecord("done", OWNER, "b", now, now + 3600, deadline_at=now + 2))
    await queue.enqueue([job(9, "done")])
    await queue.enqueue([job(i, "late") for i in range(6)])
    claimed = await queue.claim("w", 4, 60_000)
    assert [j.id for j in claimed] == ["job-9", "job-0", "job-1", "job-2"]  # in arrival order
    for finished in claimed[:2]:
        assert await queue.complete(finished, "w", JobState.SUCCEEDED, result={"ok": finished.id})
    dead = await queue.claim("dead", 1, 1)  # job-3: its worker dies, the lease lapses
    assert [j.id for j in dead] == ["job-3"]
    await asyncio.sleep(max(0.0, now + 2.05 - time.time()))
    # The next claim closes both batches first: nothing of "late" is handed out after its deadline.
    assert await queue.claim("w", 10, 60_000) == []
    late = await store.batches.get_batch("late", OWNER)
    # job-1, job-2 still run (live leases) and finish; job-3 (lapsed lease), job-4, job-5 never ran.
    assert (late.counts.succeeded, late.counts.pending, late.counts.expired) == (1, 2, 3)
    assert late.closed_at is not None and late.expired_at is not None
    done = await store.batches.get_batch("done", OWNER)
    assert done.closed_at is not None and done.expired_at is None  # finished in time: closed, not expired
    assert await queue.complete(claimed[2], "w", JobState.SUCCEEDED, result={"ok": 2})
    assert not await queue.complete(dead[0], "dead", JobState.SUCCEEDED, result={"late": 3})  # expired: refused
    assert await store.batches.close_due() == 0  # idempotent
    with pytest.raises(InvalidRequest, match="completion window"):
        await queue.enqueue([job(20, "late")])
    expired = await store.batches.list_jobs("late", OWNER, limit=10, states=(JobState.EXPIRED,))
    assert [j.request_key for j in expired] == ["key-3", "key-4", "key-5"]


async def test_cancel_stops_pending_requests_and_counts(store: Store) -> None:
    queue = store.jobs
    await new_batch(store.batches)
    await queue.enqueue([job(i, "batch-1") for i in range(5)])
    [running] = await queue.claim("w", 1, 60_000)
    record = await store.batches.cancel_batch("batch-1", OWNER)
    assert record.cancelled_at is not None
    assert (record.counts.total, record.counts.pending, record.counts.cancelled) == (5, 1, 4)
    assert await queue.claim("w2", 5, 60_000) == []
    assert await queue.complete(running, "w", JobState.SUCCEEDED, result={})  # the running one still finishes
    counts = (await store.batches.get_batch("batch-1", OWNER)).counts
    assert (counts.succeeded, counts.cancelled, counts.pending) == (1, 4, 0)
    with pytest.raises(BatchNotFound):
        await store.batches.get_batch("batch-1", "someone-else")


async def test_duplicate_request_ids_are_refused(store: Store) -> None:
    queue = store.jobs
    await new_batch(store.batches)
    await queue.enqueue([job(1, "batch-1")])
    with pytest.raises(Exception, match="already has requests with batch_request_id key-1"):
        await queue.enqueue(
            [NewJob(id="job-x", kind=JobKind.BATCH, owner=OWNER, request_key="key-1", payload={}, batch_id="batch-1")]
        )


async def test_purge_keeps_images_of_waiting_jobs(store: Store) -> None:
    queue = store.jobs
    data = b"image bytes"
    sha = hashlib.sha256(data).hexdigest()
    await store.responses.put_images({sha: data})
    await queue.enqueue([job(1, images=[sha])])
    later = int(time.time()) + store.responses.image_grace_s + 10  # the image is idle past the grace; the job lives on
    await store.purge_expired(later)
    assert await store.responses.get_image(sha) == data
    [claimed] = await queue.claim("w", 1, 60_000)
    assert await queue.complete(claimed, "w", JobState.SUCCEEDED, result={})
    await store.purge_expired(later)
    assert await store.responses.get_image(sha) is None
