"""``xai_api.Files`` and ``file(file_id)`` images through the unmodified xai-sdk client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from files_support import KEY, OTHER_KEY, picture
from spec_oracle import expected_image_tokens
from xai_sdk import Client
from xai_sdk.chat import file, user
from xai_sdk.proto import chat_pb2, image_pb2

from oculi.testing.server import ServerProcess


@pytest.fixture(scope="module")
def xai(files_server: ServerProcess) -> Iterator[Client]:
    with Client(api_key=KEY, api_host=files_server.grpc_address, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def other_xai(files_server: ServerProcess) -> Iterator[Client]:
    with Client(api_key=OTHER_KEY, api_host=files_server.grpc_address, timeout=120) as client:
        yield client


def test_upload_get_list_content_delete(xai: Client, tmp_path: Path) -> None:
    data = os.urandom(7 * 1024 * 1024 + 5)  # three of the SDK's 3 MiB chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    progress: list[int] = []
    uploaded = xai.files.upload(str(path), on_progress=lambda done, total: progress.append(done))
    assert progress[-1] == len(data)
    assert uploaded.id.startswith("file-") and (uploaded.filename, uploaded.size) == ("blob.bin", len(data))
    assert uploaded.created_at.seconds > 0 and not uploaded.HasField("expires_at")
    assert xai.files.get(uploaded.id) == uploaded
    assert uploaded.id in [f.id for f in xai.files.list(limit=1000).data]
    assert xai.files.content(uploaded.id) == data
    small = xai.files.upload(b"tiny", filename="tiny.txt", expires_after=3600)
    assert small.expires_at.seconds == small.created_at.seconds + 3600
    page = xai.files.list(limit=1, order="desc")
    assert [f.id for f in page.data] == [small.id] and page.pagination_token == small.id
    following = xai.files.list(limit=1, order="desc", pagination_token=page.pagination_token)
    assert [f.id for f in following.data] == [uploaded.id]
    for made in (uploaded, small):
        deleted = xai.files.delete(made.id)
        assert (deleted.id, deleted.deleted) == (made.id, True)
    with pytest.raises(grpc.RpcError) as caught:
        xai.files.get(uploaded.id)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND and uploaded.id in caught.value.details()


@pytest.mark.parametrize(("size", "detail"), [((1000, 500), "auto"), ((300, 200), "auto")])
def test_chat_with_file_usage_matches_spec(xai: Client, size: tuple[int, int], detail: str) -> None:
    uploaded = xai.files.upload(picture(*size, fmt="JPEG", seed=4), filename="photo.jpg")
    chat = xai.chat.create(model="grok-4", max_tokens=2)
    chat.append(user("What is in this image?", file(uploaded.id)))
    response = chat.sample()
    assert response.usage.prompt_image_tokens == expected_image_tokens(*size, detail)
    assert response.usage.prompt_tokens == response.usage.prompt_text_tokens + response.usage.prompt_image_tokens
    # ImageUrlContent.file_id (with a detail) is the same reference.
    by_id = chat_pb2.Content(image_url=image_pb2.ImageUrlContent(file_id=uploaded.id, detail=image_pb2.DETAIL_LOW))
    chat = xai.chat.create(model="grok-4", max_tokens=2)
    chat.append(user("Describe it.", by_id))
    assert chat.sample().usage.prompt_image_tokens == expected_image_tokens(*size, "low")
    xai.files.delete(uploaded.id)


def test_stored_conversation_keeps_the_reference(xai: Client) -> None:
    uploaded = xai.files.upload(picture(640, 200, seed=5), filename="wide.png")
    chat = xai.chat.create(model="grok-4", max_tokens=2, store_messages=True)
    chat.append(user("What is in this image?", file(uploaded.id)))
    first = chat.sample()
    follow = xai.chat.create(model="grok-4", max_tokens=2, previous_response_id=first.id, store_messages=True)
    follow.append(user("And now?"))
    assert follow.sample().usage.prompt_image_tokens == expected_image_tokens(640, 200, "auto")
    xai.files.delete(uploaded.id)
    after = xai.chat.create(model="grok-4", max_tokens=2, previous_response_id=first.id)
    after.append(user("Still there?"))
    with pytest.raises(grpc.RpcError) as caught:
        after.sample()
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND and uploaded.id in caught.value.details()


def test_another_key_cannot_see_use_or_delete(xai: Client, other_xai: Client) -> None:
    uploaded = xai.files.upload(picture(64, 64), filename="mine.png")
    chat = other_xai.chat.create(model="grok-4", max_tokens=2)
    chat.append(user("What is in this image?", file(uploaded.id)))
    for attempt in (
        lambda: other_xai.files.get(uploaded.id),
        lambda: other_xai.files.content(uploaded.id),
        lambda: other_xai.files.delete(uploaded.id),
        chat.sample,
    ):
        with pytest.raises(grpc.RpcError) as caught:
            attempt()
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND and uploaded.id in caught.value.details()
    assert uploaded.id not in [f.id for f in other_xai.files.list().data]
    xai.files.delete(uploaded.id)


def test_unsupported_requests_are_refused_clearly(xai: Client) -> None:
    text_file = xai.files.upload(b"%PDF-1.7 not an image", filename="doc.pdf")
    chat = xai.chat.create(model="grok-4", max_tokens=2)
    chat.append(user("Summarise.", file(text_file.id)))
    with pytest.raises(grpc.RpcError) as caught:
        chat.sample()
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT and text_file.id in caught.value.details()
    with pytest.raises(grpc.RpcError) as listed:
        xai.files.list(filter='name = "doc.pdf"')
    assert listed.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "filter" in listed.value.details()
    with pytest.raises(grpc.RpcError) as public:
        xai.files.create_public_url(text_file.id)
    assert public.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    xai.files.delete(text_file.id)
