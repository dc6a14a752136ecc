"""``BatchService`` on a real store: it takes the store's parts it needs, keeps images by hash, seals, wakes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from oculi.domain import Completion, Conversation, Detail, FinishReason, ImagePart, Message, Role, TextPart, Usage
from oculi.domain.generation import Choice
from oculi.errors import InvalidRequest
from oculi.service.batches import BatchItem, BatchService, batch_finisher
from oculi.service.generate import GenerationRequest
from oculi.store import Store
from oculi.store.jobs import JobState

OWNER = "owner-a"
PIXELS = b"\x89PNG\r\n\x1a\n not really decoded here"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'oculi.db'}", retention_days=1, purge_interval_s=0)
    await opened.open()
    yield opened
    await opened.close()


def request(text: str) -> GenerationRequest:
    image = ImagePart(url="data:image/png;base64," + base64.b64encode(PIXELS).decode(), detail=Detail.LOW)
    return GenerationRequest(model="m", conversation=Conversation([Message(Role.USER, [TextPart(text), image])]))


async def test_add_keeps_images_by_hash_records_refusals_and_wakes_the_worker(store: Store) -> None:
    woken: list[int] = []
    service = BatchService(store.batches, store.jobs, store.responses, wake=lambda: woken.append(1))
    batch = await service.create(OWNER, "b", {"surface": "rest"})  # a surface name is only metadata now
    assert batch.expires_at == batch.created_at + 86_400
    refused = InvalidRequest("no such field", param="x")
    keys = await service.add(batch.id, OWNER, [BatchItem("a", request("one")), BatchItem("b", refused=refused)])
    assert keys == ["a", "b"] and woken == [1]
    sha = hashlib.sha256(PIXELS).hexdigest()
    assert await store.responses.get_image(sha) == PIXELS
    a, b = await service.requests(batch.id, OWNER, limit=10)
    assert a.state is JobState.PENDING and f"stored:{sha}" in str(a.payload["conversation"])
    assert b.state is JobState.FAILED and b.error is not None and b.error["param"] == "x"


async def test_a_sealed_batch_takes_requests_only_from_its_creator(store: Store) -> None:
    service = BatchService(store.batches, store.jobs, store.responses, wake=lambda: None)
    sealed = await service.create(OWNER, "from a file", {"input_file_id": "file-1"}, sealed=True)
    with pytest.raises(InvalidRequest, match="created from an input file"):
        await service.add(sealed.id, OWNER, [BatchItem("a", request("one"))])
    assert await service.add(sealed.id, OWNER, [BatchItem("a", request("one"))], sealed_ok=True) == ["a"]
    assert (await service.get(sealed.id, OWNER)).metadata == {"input_file_id": "file-1", "sealed": True}


async def test_the_batch_finisher_writes_a_result_once(store: Store) -> None:
    service = BatchService(store.batches, store.jobs, store.responses, wake=lambda: None)
    batch = await service.create(OWNER, "b")
    await service.add(batch.id, OWNER, [BatchItem("a", request("one"))])
    [job] = await store.jobs.claim("w", 1, 60_000)
    usage = Usage(prompt_text_tokens=1, completion_tokens=1)
    completion = Completion(job.id, "m", 0, [Choice(0, "done", FinishReason.STOP)], usage)
    finish = batch_finisher(store.jobs)
    assert await finish(job, "w", completion, None)
    assert not await finish(job, "w", completion, None)
    [done] = await service.requests(batch.id, OWNER, limit=10)
    assert done.state is JobState.SUCCEEDED and done.result is not None and done.result["choices"][0]["text"] == "done"
