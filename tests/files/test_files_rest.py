"""The Files API and ``file_id`` images through the unmodified ``openai`` client (and plain HTTP for forms)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx
import openai
import pytest
from files_support import KEY, OTHER_KEY, multipart, picture
from openai import OpenAI
from spec_oracle import expected_image_tokens

from oculi.testing.server import ServerProcess


def ask_chat(client: OpenAI, file_id: str, *, text: str = "What is in this image?") -> openai.types.CompletionUsage:
    completion = client.chat.completions.create(
        model="grok-4",
        max_tokens=2,
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": text}, {"type": "file", "file": {"file_id": file_id}}],
            }
        ],
    )
    assert completion.choices[0].message.role == "assistant" and completion.usage is not None
    return completion.usage


def test_upload_retrieve_list_content_delete(client: OpenAI, tmp_path: Path) -> None:
    data = picture(640, 480, seed=1)
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    with path.open("rb") as f:
        uploaded = client.files.create(file=f, purpose="vision")
    assert uploaded.object == "file" and uploaded.id.startswith("file-")
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == ("photo.png", len(data), "vision")
    assert uploaded.status == "processed" and uploaded.expires_at is None and uploaded.created_at > 0
    assert client.files.retrieve(uploaded.id) == uploaded
    assert uploaded.id in [f.id for f in client.files.list(purpose="vision")]
    assert uploaded.id not in [f.id for f in client.files.list(purpose="batch")]
    assert client.files.content(uploaded.id).content == data
    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (uploaded.id, "file", True)
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(uploaded.id)
    assert uploaded.id in str(caught.value.body)
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(uploaded.id)


def test_list_pages_with_the_clients_cursor(client: OpenAI) -> None:
    ids = [client.files.create(file=(f"p{i}.txt", b"page %d" % i), purpose="user_data").id for i in range(5)]
    first = client.files.list(purpose="user_data", limit=2)
    assert len(first.data) == 2 and first.has_more
    listed = [f.id for f in client.files.list(purpose="user_data", limit=2)]  # the client follows `after`
    assert set(ids) <= set(listed) and len(listed) == len(set(listed))
    ascending = [f.id for f in client.files.list(purpose="user_data", order="asc")]
    assert [i for i in ascending if i in ids] == ids  # created in this order
    for file_id in ids:
        client.files.delete(file_id)


@pytest.mark.parametrize(("size", "detail"), [((1000, 500), "auto"), ((300, 200), "auto")])
def test_chat_with_file_id_usage_matches_spec(client: OpenAI, size: tuple[int, int], detail: str) -> None:
    data = picture(*size, fmt="JPEG", seed=2)
    uploaded = client.files.create(file=("photo.jpg", data), purpose="vision")
    usage = ask_chat(client, uploaded.id)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.image_tokens == expected_image_tokens(*size, detail)
    # Exactly what the same image costs sent inline.
    inline = client.chat.completions.create(
        model="grok-4",
        max_tokens=2,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(data).decode()},
                    },
                ],
            }
        ],
    )
    assert inline.usage is not None and inline.usage.prompt_tokens == usage.prompt_tokens


def test_responses_input_image_file_id_and_continuing_after_delete(client: OpenAI) -> None:
    uploaded = client.files.create(file=("wide.png", picture(900, 300, seed=3)), purpose="vision")
    first = client.responses.create(
        model="grok-4",
        max_output_tokens=2,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "file_id": uploaded.id, "detail": "high"},
                    {"type": "input_text", "text": "Describe it."},
                ],
            }
        ],
    )
    assert first.usage is not None
    assert first.usage.input_tokens_details.image_tokens == expected_image_tokens(900, 300, "high")  # type: ignore[attr-defined]
    # The stored conversation keeps the file reference: continuing re-reads the file.
    second = client.responses.create(
        model="grok-4", max_output_tokens=2, previous_response_id=first.id, input="And the colours?"
    )
    assert second.usage is not None
    assert second.usage.input_tokens_details.image_tokens == expected_image_tokens(900, 300, "high")  # type: ignore[attr-defined]
    # input_file with file_id is taken as the same image.
    as_file = client.responses.create(
        model="grok-4",
        max_output_tokens=2,
        store=False,
        input=[
            {
                "role": "user",
                "content": [{"type": "input_file", "file_id": uploaded.id}, {"type": "input_text", "text": "What?"}],
            }
        ],
    )
    assert as_file.usage is not None
    assert as_file.usage.input_tokens_details.image_tokens == expected_image_tokens(900, 300, "auto")  # type: ignore[attr-defined]
    client.files.delete(uploaded.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="grok-4", max_output_tokens=2, previous_response_id=first.id, input="More?")
    assert uploaded.id in str(caught.value.body)


def test_another_key_cannot_see_use_or_delete_a_file(client: OpenAI, other_client: OpenAI) -> None:
    uploaded = client.files.create(file=("mine.png", picture(64, 64)), purpose="vision")
    for attempt in (
        lambda: other_client.files.retrieve(uploaded.id),
        lambda: other_client.files.content(uploaded.id),
        lambda: other_client.files.delete(uploaded.id),
        lambda: ask_chat(other_client, uploaded.id),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            attempt()
        assert uploaded.id in str(caught.value.body)
    assert uploaded.id not in [f.id for f in other_client.files.list()]
    assert client.files.retrieve(uploaded.id).id == uploaded.id  # still there for its owner
    client.files.delete(uploaded.id)


def test_a_non_image_file_is_a_400_naming_it(client: OpenAI) -> None:
    uploaded = client.files.create(file=("notes.txt", b"just some text, not pixels"), purpose="user_data")
    with pytest.raises(openai.BadRequestError) as caught:
        ask_chat(client, uploaded.id)
    assert uploaded.id in str(caught.value.body) and "PNG" in str(caught.value.body)
    with pytest.raises(openai.NotFoundError) as missing:
        ask_chat(client, "file-does-not-exist")
    assert "file-does-not-exist" in str(missing.value.body)


def test_form_fields_in_any_order_and_expiry(files_server: ServerProcess) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=files_server.v1, headers=headers, timeout=60) as http:
        # curl -F file=@x -F purpose=batch -F expires_after=3600: the fields follow the file.
        body, content_type = multipart(
            [("file", "in.jsonl", b'{"a": 1}\n'), ("purpose", None, b"batch"), ("expires_after", None, b"3600")]
        )
        made = http.post("/files", content=body, headers={"content-type": content_type}).json()
        assert (made["purpose"], made["filename"], made["bytes"]) == ("batch", "in.jsonl", 9)
        assert made["expires_at"] == made["created_at"] + 3600
        # The openai client's deepObject form of expires_after.
        opened = OpenAI(base_url=files_server.v1, api_key=KEY, max_retries=0).files.create(
            file=("b.txt", b"b"), purpose="user_data", expires_after={"anchor": "created_at", "seconds": 7200}
        )
        assert opened.expires_at == opened.created_at + 7200
        bad = {
            "no file part": multipart([("purpose", None, b"batch")]),
            "unknown purpose": multipart([("purpose", None, b"everything"), ("file", "x.txt", b"x")]),
            "expiry too short": multipart([("expires_after", None, b"5"), ("file", "x.txt", b"x")]),
            "two files": multipart([("file", "a.txt", b"a"), ("file", "b.txt", b"b")]),
        }
        for case, (payload, kind) in bad.items():
            response = http.post("/files", content=payload, headers={"content-type": kind})
            assert response.status_code == 400, case
            assert response.json()["error"], case
        not_multipart = http.post("/files", json={"file": "x"})
        assert not_multipart.status_code == 400 and "multipart/form-data" in not_multipart.json()["error"]
        truncated = http.post("/files", content=body[: len(body) // 2], headers={"content-type": content_type})
        assert truncated.status_code == 400
        for created in (made["id"], opened.id):
            assert http.delete(f"/files/{created}").json()["deleted"] is True


def test_image_tokens_counted_by_file_id(files_server: ServerProcess) -> None:
    client = OpenAI(base_url=files_server.v1, api_key=KEY, max_retries=0)
    uploaded = client.files.create(file=("tall.png", picture(500, 1400, seed=6)), purpose="vision")
    with httpx.Client(base_url=files_server.v1, timeout=60) as http:
        counted = http.post(
            "/image-tokens",
            json={"file_id": uploaded.id, "detail": "high"},
            headers={"authorization": f"Bearer {KEY}"},
        )
        assert counted.status_code == 200
        assert counted.json()["image_tokens"] == expected_image_tokens(500, 1400, "high")
        foreign = http.post(
            "/image-tokens", json={"file_id": uploaded.id}, headers={"authorization": f"Bearer {OTHER_KEY}"}
        )
        assert foreign.status_code == 404 and uploaded.id in foreign.json()["error"]
    client.files.delete(uploaded.id)


def test_deferred_chat_with_a_file_image(files_server: ServerProcess, client: OpenAI) -> None:
    uploaded = client.files.create(file=("d.png", picture(800, 600, seed=8)), purpose="vision")
    body = {
        "model": "grok-4",
        "deferred": True,
        "max_tokens": 2,
        "messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": uploaded.id}}]}],
    }
    with httpx.Client(base_url=files_server.v1, headers={"authorization": f"Bearer {KEY}"}, timeout=60) as http:
        request_id = http.post("/chat/completions", json=body).json()["request_id"]
        deadline = time.monotonic() + 60
        while (poll := http.get(f"/chat/deferred-completion/{request_id}")).status_code == 202:
            assert time.monotonic() < deadline, "deferred completion never finished"
            time.sleep(0.1)
    assert poll.status_code == 200, poll.text
    assert poll.json()["usage"]["prompt_tokens_details"]["image_tokens"] == expected_image_tokens(800, 600, "auto")
    client.files.delete(uploaded.id)
