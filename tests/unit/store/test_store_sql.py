"""Store behaviour, each test on SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

import pytest

from oculi.domain import (
    Choice,
    Conversation,
    Detail,
    FinishReason,
    GenerationParams,
    ImagePart,
    Message,
    Role,
    TextPart,
    Usage,
)
from oculi.store import ResponseStatus, Store, StoredResponse

Rows = Callable[[str], list[tuple[object, ...]]]


def image(seed: str) -> tuple[str, bytes]:
    """Distinct bytes per seed (PNG signature + payload) and their sha256."""
    data = b"\x89PNG\r\n\x1a\n" + seed.encode() * 1000 + bytes(range(256))
    return hashlib.sha256(data).hexdigest(), data


def response(
    rid: str,
    *,
    owner: str = "owner-a",
    hashes: tuple[str, ...] = (),
    expires_in: int = 3600,
    status: ResponseStatus = ResponseStatus.COMPLETED,
    text: str | None = "It is a cat.",
) -> StoredResponse:
    """A response whose conversation has two user turns, the stored images in the first."""
    now = int(time.time())
    first: list[TextPart | ImagePart] = [TextPart("What is in these images?")]
    first += [ImagePart.stored(h, Detail.HIGH if i % 2 else Detail.LOW) for i, h in enumerate(hashes)]
    conversation = Conversation(
        [
            Message(Role.SYSTEM, [TextPart("Be brief. ünïcödé ✓")]),
            Message(Role.USER, first),
            Message(Role.ASSISTANT, [TextPart("A cat.")]),
            Message(Role.USER, [TextPart("And the colour?")]),
        ]
    )
    return StoredResponse(
        id=rid,
        owner=owner,
        model="oculi-lite",
        created_at=now,
        expires_at=now + expires_in,
        status=status,
        surface="responses",
        conversation=conversation,
        params=GenerationParams(max_tokens=64, temperature=0.2, top_p=0.9, seed=7, stop=["\n\n"]),
        choices=[Choice(0, text, FinishReason.STOP)] if text is not None else [],
        usage=Usage(prompt_text_tokens=31, prompt_image_tokens=1792, completion_tokens=5) if text else None,
        previous_response_id="resp_earlier",
        metadata={"instructions": "Be brief.", "store": True},
    )


async def test_round_trip_with_stored_images(store: Store, rows: Rows) -> None:
    (h1, d1), (h2, d2) = image("one"), image("two")
    await store.responses.put_images({h1: d1, h2: d2})
    stored = response("resp_1", hashes=(h1, h2))
    await store.responses.put_response(stored)

    assert await store.responses.get_response("resp_1", "owner-a") == stored
    assert await store.responses.get_image(h1) == d1
    assert await store.responses.get_image(h2) == d2
    assert await store.responses.get_image("0" * 64) is None
    assert await store.responses.image_sizes([h1, h2, "0" * 64]) == {h1: len(d1), h2: len(d2)}  # sizes, no bytes read
    assert sorted(rows("SELECT sha256 FROM response_images WHERE response_id = 'resp_1'")) == sorted([(h1,), (h2,)])

    assert await store.responses.delete_response("resp_1", "owner-a") is True
    assert await store.responses.get_response("resp_1", "owner-a") is None
    assert await store.responses.delete_response("resp_1", "owner-a") is False
    assert rows("SELECT count(*) FROM response_images") == [(0,)]
    # The deleted response's images are collected once idle past the grace period.
    await store.purge_expired(int(time.time()) + store.responses.image_grace_s + 1)
    assert await store.responses.get_image(h1) is None
    assert rows("SELECT count(*) FROM images") == [(0,)]


async def test_same_image_is_stored_once(store: Store, rows: Rows) -> None:
    h, data = image("cat")
    await store.responses.put_images({h: data})
    await store.responses.put_images({h: data})
    await asyncio.gather(*(store.responses.put_images({h: data}) for _ in range(4)))  # racing inserts too
    await store.responses.put_response(response("resp_1", hashes=(h,)))
    await store.responses.put_response(response("resp_2", hashes=(h, h)))

    assert rows("SELECT count(*) FROM images") == [(1,)]
    assert rows("SELECT count(*) FROM response_images") == [(2,)]
    assert await store.responses.get_image(h) == data


async def test_other_owner_sees_and_deletes_nothing(store: Store) -> None:
    h, data = image("x")
    await store.responses.put_images({h: data})
    mine = response("resp_1", owner="owner-a", hashes=(h,))
    await store.responses.put_response(mine)

    assert await store.responses.get_response("resp_1", "owner-b") is None
    assert await store.responses.delete_response("resp_1", "owner-b") is False
    assert await store.responses.get_response("resp_1", "owner-a") == mine
    with pytest.raises(ValueError, match="another owner"):
        await store.responses.put_response(response("resp_1", owner="owner-b"))
    assert await store.responses.get_response("resp_1", "owner-a") == mine


async def test_expired_responses_are_invisible_then_purged_with_their_images(store: Store, rows: Rows) -> None:
    (only_old, d1), (only_live, d2), (shared, d3), (loose, d4) = (image(s) for s in ("a", "b", "c", "d"))
    await store.responses.put_images({only_old: d1, only_live: d2, shared: d3, loose: d4})
    await store.responses.put_response(response("resp_old", hashes=(only_old, shared), expires_in=-1))
    live = response("resp_live", hashes=(only_live, shared), expires_in=30 * 86400)
    await store.responses.put_response(live)

    assert await store.responses.get_response("resp_old", "owner-a") is None
    assert await store.responses.delete_response("resp_old", "owner-a") is False

    now = int(time.time())
    assert await store.purge_expired(now) == 1
    assert rows("SELECT id FROM responses") == [("resp_live",)]
    # Unreferenced images just put are kept during the grace period (a response may be about to use them).
    assert await store.responses.get_image(only_old) == d1
    assert await store.responses.get_image(loose) == d4

    assert await store.purge_expired(now + store.responses.image_grace_s + 1) == 0
    assert await store.responses.get_image(only_old) is None
    assert await store.responses.get_image(loose) is None
    assert await store.responses.get_image(only_live) == d2
    assert await store.responses.get_image(shared) == d3
    assert await store.responses.get_response("resp_live", "owner-a") == live


async def test_deferred_response_is_replaced_when_done(store: Store, rows: Rows) -> None:
    h, data = image("deferred")
    await store.responses.put_images({h: data})
    pending = response("req_1", hashes=(h,), status=ResponseStatus.IN_PROGRESS, text=None)
    await store.responses.put_response(pending)
    got = await store.responses.get_response("req_1", "owner-a")
    assert got is not None and got.status is ResponseStatus.IN_PROGRESS and got.choices == []

    done = response("req_1", hashes=(h,), text="Done.")
    await store.responses.put_response(done)
    assert await store.responses.get_response("req_1", "owner-a") == done
    assert rows("SELECT count(*) FROM responses") == [(1,)]
    assert rows("SELECT count(*) FROM response_images") == [(1,)]

    failed = response("req_2", status=ResponseStatus.FAILED, text=None)
    failed.error = {"code": "context_length_exceeded", "error": "too long"}
    await store.responses.put_response(failed)
    assert await store.responses.get_response("req_2", "owner-a") == failed


async def test_two_instances_share_one_database(store: Store, store_url: str) -> None:
    other = Store(store_url, retention_days=30, purge_interval_s=0)
    await other.open()
    try:
        h, data = image("shared")
        await store.responses.put_images({h: data})
        first = response("resp_a", hashes=(h,))
        await store.responses.put_response(first)
        assert await other.responses.get_response("resp_a", "owner-a") == first
        assert await other.responses.get_image(h) == data

        # Both write at once, each continuing the other's conversation.
        second, third = response("resp_b", hashes=(h,)), response("resp_c", hashes=(h,))
        await asyncio.gather(other.responses.put_response(second), store.responses.put_response(third))
        assert await store.responses.get_response("resp_b", "owner-a") == second
        assert await other.responses.get_response("resp_c", "owner-a") == third

        assert await other.responses.delete_response("resp_a", "owner-a") is True
        assert await store.responses.get_response("resp_a", "owner-a") is None
    finally:
        await other.close()


async def test_referencing_an_image_not_in_the_store_is_refused(store: Store) -> None:
    h, data = image("never stored")
    with pytest.raises(ValueError, match="put_images first"):
        await store.responses.put_response(response("resp_1", hashes=(h,)))
    assert await store.responses.get_response("resp_1", "owner-a") is None
    with pytest.raises(ValueError, match="not the sha256"):
        await store.responses.put_images({h: data + b"tampered"})
    assert await store.responses.get_image(h) is None
