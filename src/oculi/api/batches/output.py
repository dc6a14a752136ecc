"""A finished REST batch's output and error JSONL files, streamed from the job rows into the store.

However many requests a batch has (50,000 is the hosted API's limit), the
lines are never all in memory: the job rows are read a page at a time, in
arrival order, each page turned into lines and handed on, and the store
spools them to a temporary file (1 MiB at a time) before writing the file's
chunks. Memory stays at one page of rows plus a megabyte, whatever the
batch's size (``tests/unit/api/test_batches_output.py`` measures it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from oculi.api.batches import mapper
from oculi.service.files import FileService
from oculi.store.batches import BatchStore
from oculi.store.jobs import BatchRecord, JobState

#: Job rows read at once: each holds its request and result, a few kB with images by reference.
PAGE = 500
OUTPUT_PURPOSE = "batch_output"
#: The states whose requests go to the error file (the hosted API: failed, cancelled and expired ones).
ERROR_STATES = (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)


async def write_outputs(batches: BatchStore, files: FileService, record: BatchRecord) -> tuple[str | None, str | None]:
    """Write the output and error files of a batch whose requests all ended; their ids (None: no such lines)."""
    endpoint = record.metadata.get("endpoint", mapper.CHAT)
    c = record.counts
    output_id = error_id = None
    if c.succeeded:
        output = _lines(batches, record, (JobState.SUCCEEDED,), lambda job: mapper.output_line(job, endpoint))
        output_id = (await files.write_output(record.owner, f"{record.id}_output.jsonl", OUTPUT_PURPOSE, output)).id
    if c.failed + c.cancelled + c.expired:
        errors = _lines(batches, record, ERROR_STATES, mapper.error_line)
        error_id = (await files.write_output(record.owner, f"{record.id}_errors.jsonl", OUTPUT_PURPOSE, errors)).id
    return output_id, error_id


async def _lines(
    batches: BatchStore, record: BatchRecord, states: tuple[JobState, ...], line: Any
) -> AsyncIterator[bytes]:
    """One chunk of JSONL per page of jobs in ``states``, in arrival order."""
    after = -1
    while True:
        jobs = await batches.list_jobs(record.id, record.owner, limit=PAGE, after_seq=after, states=states)
        if jobs:
            yield b"".join(_encode(line(job)) for job in jobs)
        if len(jobs) < PAGE:
            return
        after = jobs[-1].seq


def _encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
