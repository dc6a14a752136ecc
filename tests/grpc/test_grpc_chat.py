"""The xai-sdk chat client against a real ``oculi serve``: seed examples, images, streaming, defer, storage."""

from __future__ import annotations

import datetime
import os
import time

import httpx
import pytest
from spec_oracle import expected_image_tokens
from xai_sdk import Client
from xai_sdk.chat import image, system, user
from xai_sdk.proto import chat_pb2, chat_pb2_grpc, sample_pb2

FINISHED = ("REASON_STOP", "REASON_MAX_LEN")


@pytest.fixture
def seed_env(oculi_server, monkeypatch: pytest.MonkeyPatch):
    """The environment the seed examples read their key from."""
    monkeypatch.setenv("XAI_API_KEY", oculi_server.api_key)
    return oculi_server


@pytest.fixture(scope="module")
def client(oculi_server):
    with Client(api_key=oculi_server.api_key, api_host=oculi_server.api_host, timeout=120) as c:
        yield c


def assert_answer(response, image_tokens: int) -> None:
    """What SPEC §6 says the client reads from a gRPC answer, and SPEC §3's usage."""
    assert isinstance(response.content, str)
    if not response.content:
        # A random-weight model may sample end-of-sequence first; that is the only excuse for no text.
        assert response.finish_reason == "REASON_STOP" and response.usage.completion_tokens <= 1
    assert response.id
    assert response.role == "ROLE_ASSISTANT"
    assert response.finish_reason in FINISHED
    assert response.proto.outputs[0].index == 0
    usage = response.usage
    assert usage.prompt_image_tokens == image_tokens
    assert usage.prompt_text_tokens > 0
    assert usage.prompt_tokens == usage.prompt_text_tokens + usage.prompt_image_tokens
    assert usage.completion_tokens > 0 or not response.content
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_seed_web_url_example(seed_env, image_server, capsys) -> None:
    wide = image_server.images["wide.png"]
    # --- seeds/000 "Web URL input", verbatim but for api_host and the image URL ---
    client = Client(api_key=os.getenv("XAI_API_KEY"), api_host=seed_env.api_host)
    image_url = wide.url
    chat = client.chat.create(model="grok-4")
    chat.append(
        user(
            "What's in this image?",
            image(image_url=image_url, detail="high"),
        )
    )
    response = chat.sample()
    print(response.content)
    # --- end of seed ---
    assert capsys.readouterr().out == response.content + "\n"
    assert_answer(response, expected_image_tokens(wide.width, wide.height, "high"))
    assert response.usage.prompt_image_tokens == 7 * 256  # 900×600 → 3×2 grid + thumbnail
    client.close()


def test_seed_base64_example(seed_env, image_server, tmp_path) -> None:
    photo = image_server.images["photo.jpg"]
    (tmp_path / "photo.jpg").write_bytes(photo.data)
    # --- seeds/000 "Base64 string input", verbatim but for api_host and image_path ---
    import base64

    client = Client(api_key=os.getenv("XAI_API_KEY"), api_host=seed_env.api_host)
    image_path = str(tmp_path / "photo.jpg")
    chat = client.chat.create(model="grok-4")

    def encode_image(image_path):
        with open(image_path, "rb") as image_file:
            encoded_string = base64.b64encode(image_file.read()).decode("utf-8")
        return encoded_string

    # Getting the base64 string
    base64_image = encode_image(image_path)
    # assumes jpeg image, update image format in the url accordingly
    chat.append(
        user(
            "What's in this image?",
            image(image_url=f"data:image/jpeg;base64,{base64_image}", detail="high"),
        )
    )
    response = chat.sample()
    print(response.content)
    # --- end of seed ---
    assert_answer(response, expected_image_tokens(photo.width, photo.height, "high"))
    assert response.usage.prompt_image_tokens == 3 * 256  # 1200×500 → 2×1 grid + thumbnail
    client.close()


def test_seed_reasoning_model_example(seed_env, image_server, capsys) -> None:
    wide = image_server.images["wide.png"]
    # --- seeds/003 "Image understanding example", verbatim but for api_host and the image URL ---
    client = Client(
        api_key=os.getenv("XAI_API_KEY"),
        management_api_key=os.getenv("XAI_MANAGEMENT_API_KEY"),
        timeout=3600,
        api_host=seed_env.api_host,
    )

    image_url = wide.url
    chat = client.chat.create(model="grok-4.20-reasoning")
    chat.append(
        user(
            "What's in this image?",
            image(image_url=image_url, detail="high"),
        )
    )

    response = chat.sample()
    print(response)

    # The response ID that can be used to continue the conversation later

    print(response.id)
    # --- end of seed ---
    printed = capsys.readouterr().out
    assert f"prompt_image_tokens: {7 * 256}" in printed
    assert printed.rstrip().endswith(response.id)
    assert_answer(response, 7 * 256)
    client.close()


def test_many_images_in_one_user_message(client, image_server) -> None:
    wide, small, photo = (image_server.images[k] for k in ("wide.png", "small.png", "photo.jpg"))
    chat = client.chat.create(model="grok-4", max_tokens=8)
    chat.append(
        user(
            "Compare the first",
            image(wide.url, detail="low"),
            "with the second",
            image(photo.data_url, detail="high"),
            "and the third:",
            image(small.url),  # auto: both sides ≤ 448 → low
            image(small.data_url, detail="high"),
        )
    )
    response = chat.sample()
    expected = (
        expected_image_tokens(wide.width, wide.height, "low")
        + expected_image_tokens(photo.width, photo.height, "high")
        + expected_image_tokens(small.width, small.height, "auto")
        + expected_image_tokens(small.width, small.height, "high")
    )
    assert expected == 256 + 768 + 256 + 1792  # 320×240 high: 4:3 is closest to the 3×2 grid
    assert_answer(response, expected)


def test_stream_accumulates_text_and_usage(client, image_server) -> None:
    small = image_server.images["small.png"]

    def new_chat():
        chat = client.chat.create(model="grok-4", temperature=0, max_tokens=12)
        chat.append(user("Describe it.", image(small.data_url, detail="high")))
        return chat

    chunks = []
    response = None
    for accumulated, chunk in new_chat().stream():
        chunks.append(chunk)
        response = accumulated
    assert response is not None and len(chunks) >= 2
    ids = {chunk.proto.id for chunk in chunks}
    assert ids == {response.id}
    for chunk in chunks:
        assert chunk.proto.outputs, "every chunk carries the choice"
        assert all(o.delta.role == chat_pb2.MessageRole.ROLE_ASSISTANT for o in chunk.proto.outputs)
    last = chunks[-1].proto
    assert last.outputs[0].finish_reason in (sample_pb2.REASON_STOP, sample_pb2.REASON_MAX_LEN)
    assert last.usage.total_tokens == response.usage.total_tokens > 0
    assert "".join(chunk.content for chunk in chunks) == response.content
    assert_answer(response, expected_image_tokens(small.width, small.height, "high"))
    # Greedy decoding: the stream says exactly what the unary call says.
    unary = new_chat().sample()
    assert unary.content == response.content
    assert unary.usage.completion_tokens == response.usage.completion_tokens


def test_defer_returns_the_completion(client, image_server) -> None:
    small = image_server.images["small.png"]
    chat = client.chat.create(model="grok-4", max_tokens=8)
    chat.append(user("What is this?", image(small.url, detail="low")))
    response = chat.defer(timeout=datetime.timedelta(seconds=60), interval=datetime.timedelta(milliseconds=50))
    assert_answer(response, 256)


def test_stored_completion_get_and_delete(client, image_server) -> None:
    small = image_server.images["small.png"]
    chat = client.chat.create(model="grok-4", max_tokens=8, store_messages=True)
    chat.append(user("Remember this picture.", image(small.data_url, detail="low")))
    response = chat.sample()

    stored = client.chat.get_stored_completion(response.id)
    assert len(stored) == 1
    assert stored[0].id == response.id
    assert stored[0].content == response.content
    assert stored[0].usage.prompt_image_tokens == 256
    assert stored[0].finish_reason == response.finish_reason

    assert client.chat.delete_stored_completion(response.id) == response.id
    import grpc

    for call in (client.chat.get_stored_completion, client.chat.delete_stored_completion):
        with pytest.raises(grpc.RpcError) as caught:
            call(response.id)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert response.id in caught.value.details()


def test_not_stored_without_store_messages(client) -> None:
    import grpc

    chat = client.chat.create(model="grok-4", max_tokens=4)
    chat.append(user("Hello"))
    response = chat.sample()
    with pytest.raises(grpc.RpcError) as caught:
        client.chat.get_stored_completion(response.id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_previous_response_id_continues_with_the_image(client, image_server) -> None:
    photo = image_server.images["photo.jpg"]
    first_chat = client.chat.create(model="grok-4", max_tokens=8, store_messages=True)
    first_chat.append(user("What is in this photo?", image(photo.url, detail="high")))
    first = first_chat.sample()
    assert first.usage.prompt_image_tokens == 768

    second_chat = client.chat.create(model="grok-4", max_tokens=8, store_messages=True, previous_response_id=first.id)
    second_chat.append(user("And what colour is the block?"))
    second = second_chat.sample()
    # The stored first turn (its image, question and answer) is in front of the new question.
    assert second.usage.prompt_image_tokens == 768
    assert second.usage.prompt_text_tokens > first.usage.prompt_text_tokens
    assert_answer(second, 768)

    # The continuation is itself stored and can be continued or fetched.
    assert client.chat.get_stored_completion(second.id)[0].content == second.content


def queue_depth(oculi_server) -> float:
    """The server's ``oculi_queue_depth`` gauge (generations admitted and not finished), from /metrics."""
    auth = {"authorization": f"Bearer {oculi_server.api_key}"}
    text = httpx.get(f"http://127.0.0.1:{oculi_server.http_port}/metrics", headers=auth, timeout=10).text
    for line in text.splitlines():
        if line.startswith("oculi_queue_depth "):
            return float(line.split()[1])
    raise AssertionError("oculi_queue_depth not in /metrics")


def test_cancelled_stream_stops_generation_and_frees_its_slot(oculi_server) -> None:
    import grpc

    metadata = (("authorization", f"Bearer {oculi_server.api_key}"),)
    # With this seed the tiny checkpoint samples ~2650 tokens (several seconds on 2 cores) before
    # its end-of-sequence token, so a slot freed within 2 s was freed by the cancellation.
    request = chat_pb2.GetCompletionsRequest(
        model="grok-4", messages=[user("Write a very long story.")], max_tokens=6000, temperature=1.0, seed=2
    )
    with grpc.insecure_channel(f"127.0.0.1:{oculi_server.grpc_port}") as channel:
        stream = chat_pb2_grpc.ChatStub(channel).GetCompletionChunk(request, metadata=metadata, timeout=120)
        first = next(stream)
        assert first.outputs[0].delta.role == chat_pb2.MessageRole.ROLE_ASSISTANT
        assert queue_depth(oculi_server) == 1
        started = time.monotonic()
        stream.cancel()
        while queue_depth(oculi_server) != 0:
            assert time.monotonic() - started < 2, "the slot was not freed after the client went away"
            time.sleep(0.05)


def test_client_side_history_with_system_and_appended_response(client, image_server) -> None:
    small = image_server.images["small.png"]
    chat = client.chat.create(model="grok-4", max_tokens=6, messages=[system("You are terse.")])
    chat.append(user("What is this?", image(small.url, detail="low")))
    first = chat.sample()
    chat.append(first)  # the SDK replays the answer as an assistant message
    chat.append(user("Say more."))
    second = chat.sample()
    assert second.usage.prompt_image_tokens == 256
    assert second.usage.prompt_text_tokens > first.usage.prompt_text_tokens
    assert_answer(second, 256)


def test_conversations_cross_between_responses_api_and_grpc(client, oculi_server, image_server) -> None:
    """SPEC §4: store_messages / previous_response_id share the store with POST /v1/responses."""
    from openai import OpenAI

    small = image_server.images["small.png"]
    http = OpenAI(base_url=f"http://127.0.0.1:{oculi_server.http_port}/v1", api_key=oculi_server.api_key)
    started = http.responses.create(
        model="grok-4",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": small.data_url, "detail": "high"},
                ],
            }
        ],
        max_output_tokens=5,
    )
    assert client.chat.get_stored_completion(started.id)[0].content == started.output_text

    chat = client.chat.create(model="grok-4", previous_response_id=started.id, store_messages=True, max_tokens=5)
    chat.append(user("And then?"))
    continued = chat.sample()
    assert continued.usage.prompt_image_tokens == expected_image_tokens(small.width, small.height, "high")

    fetched = http.responses.retrieve(continued.id)
    assert fetched.output_text == continued.content
    http.close()
