"""The Responses API through the official ``openai`` client: create, stream, stored conversations."""

from __future__ import annotations

import hashlib
import sqlite3

import httpx
import openai
import pytest
from api_support import KEY, OTHER_KEY, ImageServer, data_url, image_bytes
from openai import OpenAI
from spec_oracle import expected_image_tokens

from oculi.testing.server import ServerProcess


@pytest.fixture
def client(vlm_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=vlm_server.v1, api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture
def other_client(vlm_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=vlm_server.v1, api_key=OTHER_KEY, max_retries=0, timeout=120)


def tokens(width: int, height: int, detail: str) -> int:
    return expected_image_tokens(width, height, detail)


def stored_ids(server: ServerProcess) -> set[str]:
    assert server.db_path is not None
    with sqlite3.connect(server.db_path) as db:
        return {row[0] for row in db.execute("SELECT id FROM responses")}


def test_plain_string_input(client: OpenAI) -> None:
    response = client.responses.create(model="grok-4", input="Hello there", max_output_tokens=3)
    assert response.object == "response"
    assert response.status in ("completed", "incomplete")
    assert response.store is True
    assert response.previous_response_id is None
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "output_text"
    assert message.content[0].annotations == []
    assert response.usage is not None
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert isinstance(response.output_text, str)


def test_images_by_url_and_base64_with_detail(client: OpenAI, image_server: ImageServer) -> None:
    url = image_server.add("/responses/wide.png", image_bytes(1300, 500, seed=4))
    b64 = data_url(image_bytes(600, 600, fmt="JPEG", seed=5))
    response = client.responses.create(
        model="grok-4.20-reasoning",
        max_output_tokens=2,
        instructions="Answer briefly.",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": url, "detail": "high"},
                    {"type": "input_text", "text": "and"},
                    {"type": "input_image", "image_url": b64, "detail": "low"},
                    {"type": "input_text", "text": "What's in these images?"},
                ],
            }
        ],
    )
    assert response.instructions == "Answer briefly."
    usage = response.usage
    assert usage is not None
    expected = tokens(1300, 500, "high") + 256
    assert usage.input_tokens_details.image_tokens == expected  # type: ignore[attr-defined]
    dumped = response.model_dump()
    assert dumped["usage"]["prompt_tokens_details"]["image_tokens"] == expected
    assert usage.input_tokens == expected + dumped["usage"]["input_tokens_details"]["text_tokens"]


def test_stream_helper_event_order(client: OpenAI) -> None:
    image = data_url(image_bytes(900, 450))
    with client.responses.stream(
        model="grok-4",
        max_output_tokens=4,
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Describe"},
                    {"type": "input_image", "image_url": image, "detail": "auto"},
                ],
            }
        ],
    ) as stream:
        events = list(stream)
    # Cut at max_output_tokens the stream ends with response.incomplete (what openai's
    # ResponseIncompleteEvent and @ai-sdk/xai expect); otherwise with response.completed.
    final = events[-1].response  # type: ignore[union-attr]
    ending = "response.incomplete" if final.status == "incomplete" else "response.completed"
    assert final.status == "completed" or final.incomplete_details.reason == "max_output_tokens"
    kinds = [e.type for e in events]
    head = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    tail = [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        ending,
    ]
    assert kinds[:4] == head and kinds[-4:] == tail
    assert set(kinds[4:-4]) <= {"response.output_text.delta"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    response_ids = {e.response.id for e in events if hasattr(e, "response")}
    assert response_ids == {final.id}
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert final.output_text == deltas
    assert final.usage is not None
    assert final.usage.input_tokens_details.image_tokens == tokens(900, 450, "auto")  # type: ignore[attr-defined]


def test_stored_conversation_with_image_over_two_turns(
    client: OpenAI, other_client: OpenAI, vlm_server: ServerProcess
) -> None:
    raw = image_bytes(700, 500, seed=9)
    image = data_url(raw)
    first = client.responses.create(
        model="grok-4",
        max_output_tokens=2,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": image, "detail": "high"},
                    {"type": "input_text", "text": "What is this?"},
                ],
            }
        ],
    )
    first_image_tokens = tokens(700, 500, "high")
    assert first.usage is not None and first.usage.input_tokens_details.image_tokens == first_image_tokens  # type: ignore[attr-defined]

    second = client.responses.create(
        model="grok-4", max_output_tokens=2, previous_response_id=first.id, input="And what colour is it?"
    )
    assert second.previous_response_id == first.id
    # The stored image (referenced by hash) is fed to the model again.
    assert second.usage is not None
    assert second.usage.input_tokens_details.image_tokens == first_image_tokens  # type: ignore[attr-defined]
    assert second.usage.input_tokens > first.usage.input_tokens

    third = client.responses.create(
        model="grok-4", max_output_tokens=2, previous_response_id=second.id, input="One more time?"
    )
    assert third.usage is not None
    assert third.usage.input_tokens_details.image_tokens == first_image_tokens  # type: ignore[attr-defined]

    fetched = client.responses.retrieve(second.id)
    assert fetched.id == second.id
    assert fetched.output_text == second.output_text
    assert fetched.previous_response_id == first.id
    assert fetched.usage is not None and fetched.usage.input_tokens == second.usage.input_tokens

    # Another key cannot see, continue or delete it.
    with pytest.raises(openai.NotFoundError):
        other_client.responses.retrieve(second.id)
    with pytest.raises(openai.NotFoundError):
        other_client.responses.create(model="grok-4", previous_response_id=second.id, input="hi")
    with pytest.raises(openai.NotFoundError):
        other_client.responses.delete(second.id)

    assert {first.id, second.id, third.id} <= stored_ids(vlm_server)
    assert vlm_server.db_path is not None
    with sqlite3.connect(vlm_server.db_path) as db:  # the image is kept once, by content hash
        (copies,) = db.execute(
            "SELECT count(*) FROM images WHERE sha256 = ?", (hashlib.sha256(raw).hexdigest(),)
        ).fetchone()
    assert copies == 1
    client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(second.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(second.id)
    assert second.id not in stored_ids(vlm_server)


def test_delete_answer_shape(http: httpx.Client) -> None:
    created = http.post("/v1/responses", json={"model": "grok-4", "input": "hi", "max_output_tokens": 1})
    response_id = created.json()["id"]
    deleted = http.delete(f"/v1/responses/{response_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": response_id, "object": "response", "deleted": True}
    again = http.get(f"/v1/responses/{response_id}")
    assert again.status_code == 404
    assert again.json()["code"] == "response_not_found"


def test_store_false_leaves_nothing(client: OpenAI, vlm_server: ServerProcess) -> None:
    image = data_url(image_bytes(320, 240, seed=11))
    response = client.responses.create(
        model="grok-4",
        store=False,
        max_output_tokens=2,
        input=[{"role": "user", "content": [{"type": "input_image", "image_url": image}]}],
    )
    assert response.store is False
    assert response.id not in stored_ids(vlm_server)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="grok-4", previous_response_id=response.id, input="continue")


def test_assistant_output_text_in_input(client: OpenAI) -> None:
    response = client.responses.create(
        model="grok-4",
        max_output_tokens=2,
        input=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
            {"role": "developer", "content": "Be terse."},
            {"role": "user", "content": [{"type": "input_text", "text": "Again"}]},
        ],
    )
    assert response.status in ("completed", "incomplete")
