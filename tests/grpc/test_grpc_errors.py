"""Bad requests over gRPC get the right status and a message that says what to fix."""

from __future__ import annotations

import base64
import io

import grpc
import pytest
from PIL import Image
from xai_sdk import Client
from xai_sdk.chat import assistant, image, user
from xai_sdk.proto import chat_pb2, chat_pb2_grpc, image_pb2


@pytest.fixture(scope="module")
def client(oculi_server):
    with Client(api_key=oculi_server.api_key, api_host=oculi_server.api_host, timeout=60) as c:
        yield c


def failure(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def ask(client, *content, model: str = "grok-4", **settings):
    chat = client.chat.create(model=model, max_tokens=4, **settings)
    chat.append(user("What is this?", *content))
    return chat.sample()


def test_image_that_is_not_jpeg_or_png(client) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    # Labelled JPEG, as clients do with unknown bytes: the signature decides.
    error = failure(lambda: ask(client, image("data:image/jpeg;base64," + base64.b64encode(gif.getvalue()).decode())))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = error.details()
    assert "Image 0" in details
    assert "GIF" in details.upper() and "PNG" in details.upper() and "JPEG" in details.upper()
    assert ("x-error-code", "unsupported_image_type") in error.trailing_metadata()


def test_truncated_png_names_the_image(client, image_server) -> None:
    small = image_server.images["small.png"]
    truncated = base64.b64encode(small.data[: len(small.data) // 2]).decode()
    error = failure(lambda: ask(client, image(small.data_url), image(f"data:image/png;base64,{truncated}")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Image 1" in error.details()


def test_image_url_the_server_answers_404(client, image_server) -> None:
    error = failure(lambda: ask(client, image(image_server.base + "/missing.png")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "404" in error.details() and "127.0.0.1" in error.details()


def test_image_url_to_a_private_address(client) -> None:
    error = failure(lambda: ask(client, image("http://10.11.12.13/cat.png")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Image 0" in error.details()


def test_unknown_detail_value(client, image_server) -> None:
    small = image_server.images["small.png"]
    # The SDK's image() maps unknown strings to AUTO, so send the raw proto with an undefined enum value.
    bad = chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url=small.data_url, detail=7))
    error = failure(lambda: ask(client, bad))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = error.details()
    assert "detail" in details and "DETAIL_HIGH" in details and "Image 0" in details


def test_image_in_an_assistant_message(client, image_server) -> None:
    small = image_server.images["small.png"]
    chat = client.chat.create(model="grok-4", max_tokens=4)
    chat.append(user("Draw me something."))
    chat.append(assistant("Here it is:", image(small.data_url)))
    chat.append(user("What is it?"))
    error = failure(chat.sample)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "only accepted in user messages" in error.details() and "messages[1].content[1]" in error.details()


def test_wrong_api_key(oculi_server) -> None:
    with Client(api_key="not-the-key", api_host=oculi_server.api_host, timeout=30) as wrong:
        error = failure(lambda: ask(wrong))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "API key" in error.details()
        assert failure(wrong.models.list_language_models).code() == grpc.StatusCode.UNAUTHENTICATED


def test_missing_api_key(oculi_server) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{oculi_server.grpc_port}") as channel:
        stub = chat_pb2_grpc.ChatStub(channel)
        request = chat_pb2.GetCompletionsRequest(model="grok-4", messages=[user("hi")])
        error = failure(lambda: stub.GetCompletion(request, timeout=30))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "No API key" in error.details()


def test_unknown_model(client) -> None:
    error = failure(lambda: ask(client, model="no-such-model"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-model" in error.details()
    error = failure(lambda: client.models.get_language_model("no-such-model"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_previous_response_id(client) -> None:
    error = failure(lambda: ask(client, previous_response_id="does-not-exist"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "does-not-exist" in error.details()


def test_out_of_range_sampling_parameter(client) -> None:
    error = failure(lambda: ask(client, temperature=5.0))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "temperature" in error.details()


def test_unsupported_feature_is_refused_not_ignored(client) -> None:
    error = failure(lambda: ask(client, tools=[chat_pb2.Tool(web_search=chat_pb2.WebSearch())]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tools[0]" in error.details() and "web_search" in error.details()


def test_stream_refuses_before_the_first_chunk(client) -> None:
    chat = client.chat.create(model="no-such-model")
    chat.append(user("hi"))
    error = failure(lambda: list(chat.stream()))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_deferred_request(oculi_server) -> None:
    from xai_sdk.proto import deferred_pb2

    with grpc.insecure_channel(f"127.0.0.1:{oculi_server.grpc_port}") as channel:
        stub = chat_pb2_grpc.ChatStub(channel)
        request = deferred_pb2.GetDeferredRequest(request_id="nope")
        metadata = (("authorization", f"Bearer {oculi_server.api_key}"),)
        error = failure(lambda: stub.GetDeferredCompletion(request, metadata=metadata, timeout=30))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in error.details()
