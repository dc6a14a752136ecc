"""A 50,000-request batch's output files are streamed: memory stays flat, however large the files are.

Real SQLite store and ``FileService``; the job rows are written straight
into the store (running 50,000 requests through a model is not what is
measured here), then ``write_outputs`` writes the output and error files
while ``tracemalloc`` records the peak of Python allocations.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, update

from oculi.api.batches.output import write_outputs
from oculi.domain import Choice, Completion, FinishReason, Usage
from oculi.service.files import FileService
from oculi.service.jobs import completion_to_dict
from oculi.settings import Settings
from oculi.store import Store
from oculi.store.job_tables import jobs
from oculi.store.jobs import BatchRecord, JobKind, JobState, NewJob

REQUESTS = 50_000
EXPIRED = 5_000  # the last ones: the window ended before they started
ANSWER = "A red square on a white page, with the word OCULI in black letters under it. " * 4
MiB = 1024 * 1024


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'oculi.db'}", retention_days=30, purge_interval_s=0)
    await store.open()
    yield store
    await store.close()


async def finished_batch(store: Store) -> BatchRecord:
    """A batch of ``REQUESTS`` chat requests: the first ones succeeded, the last ``EXPIRED`` expired."""
    now = int(time.time())
    await store.batches.create_batch(
        BatchRecord("b", "me", "big", now, now + 3600, metadata={"endpoint": "/v1/chat/completions"})
    )
    payload = {"model": "grok-4", "params": {}}
    await store.jobs.enqueue(
        [
            NewJob(
                id=f"job-{i:05d}", kind=JobKind.BATCH, owner="me", request_key=f"r{i}", payload=payload, batch_id="b"
            )
            for i in range(REQUESTS)
        ]
    )
    usage = Usage(prompt_text_tokens=20, prompt_image_tokens=256, completion_tokens=80)
    result = json.dumps(completion_to_dict(Completion("c", "lite", now, [Choice(0, ANSWER, FinishReason.STOP)], usage)))

    def finish(conn: Connection) -> None:
        batch = jobs.c.batch_id == "b"
        conn.execute(update(jobs).where(batch).values(state=JobState.EXPIRED.value, finished_at=now))
        succeeded = jobs.c.id < f"job-{REQUESTS - EXPIRED:05d}"  # ids sort in arrival order
        conn.execute(
            update(jobs).where(batch, succeeded).values(state=JobState.SUCCEEDED.value, result=result, finished_at=now)
        )

    await store.db.run(finish, write=True, what="finishing the test's jobs")
    return await store.batches.get_batch("b", "me")


@pytest.mark.slow
async def test_output_of_50000_requests_is_written_with_flat_memory(store: Store) -> None:
    record = await finished_batch(store)
    assert (record.counts.succeeded, record.counts.expired) == (REQUESTS - EXPIRED, EXPIRED)
    tracemalloc.start()
    try:
        output_id, error_id = await write_outputs(store.batches, FileService(store.files, Settings()), record)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert output_id is not None and error_id is not None
    output_file, output = await store.files.read_file(output_id, "me")
    lines = output.splitlines()
    assert len(lines) == REQUESTS - EXPIRED
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert (first["custom_id"], last["custom_id"]) == ("r0", f"r{REQUESTS - EXPIRED - 1}")
    assert last["response"]["body"]["choices"][0]["message"]["content"] == ANSWER
    _, errors = await store.files.read_file(error_id, "me")
    assert errors.count(b'"code":"batch_expired"') == EXPIRED
    print(f"output {output_file.bytes / MiB:.1f} MiB + errors {len(errors) / MiB:.1f} MiB, peak {peak / MiB:.1f} MiB")
    assert output_file.bytes > 30 * MiB
    assert peak < 12 * MiB  # a page of rows and a megabyte of spool; the files built whole would be > 30 MiB
