"""Models, Tokenize and Auth over gRPC; request ids, message size and keepalive of the server."""

from __future__ import annotations

import base64
import io
import random
import time

import grpc
import pytest
from google.protobuf import empty_pb2
from PIL import Image
from xai_sdk import Client
from xai_sdk.chat import image, user
from xai_sdk.proto import chat_pb2, chat_pb2_grpc, models_pb2

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def client(oculi_server):
    with Client(api_key=oculi_server.api_key, api_host=oculi_server.api_host, timeout=120) as c:
        yield c


def test_list_and_get_language_models(client, oculi_server) -> None:
    models = client.models.list_language_models()
    names = [m.name for m in models]
    assert names, "at least the checkpoint is served"
    default = models[0]
    assert models_pb2.Modality.TEXT in default.input_modalities
    assert models_pb2.Modality.IMAGE in default.input_modalities
    assert list(default.output_modalities) == [models_pb2.Modality.TEXT]
    assert default.max_prompt_length > 0
    assert default.created.seconds > 0
    # Every grok-* name is the default model; the model's own id resolves to itself.
    assert client.models.get_language_model("grok-4").name == default.name
    assert client.models.get_language_model(default.name).name == default.name
    assert len(client.models.list_embedding_models()) == 0


def test_tokenize_text(client) -> None:
    text = "What's in this image? A cat, probably."
    tokens = client.tokenize.tokenize_text(text, model="grok-4")
    assert len(tokens) > 1
    assert all(isinstance(t.token_id, int) for t in tokens)
    assert "".join(t.string_token for t in tokens) == text
    assert b"".join(t.token_bytes for t in tokens) == text.encode()


def test_api_key_info_is_redacted(client, oculi_server) -> None:
    info = client.auth.get_api_key_info()
    assert info.redacted_api_key
    assert oculi_server.api_key not in info.redacted_api_key
    assert info.redacted_api_key.endswith(oculi_server.api_key[-4:])
    assert info.api_key_id and not info.disabled and not info.api_key_blocked
    assert info.acls


def test_response_carries_request_id(oculi_server) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{oculi_server.grpc_port}") as channel:
        stub = chat_pb2_grpc.ChatStub(channel)
        request = chat_pb2.GetCompletionsRequest(model="grok-4", messages=[user("Hello")], max_tokens=3)
        metadata = (("authorization", f"Bearer {oculi_server.api_key}"),)
        response, call = stub.GetCompletion.with_call(request, metadata=metadata, timeout=60)
    initial = dict(call.initial_metadata())
    assert initial["x-request-id"] == response.id
    assert response.outputs[0].message.role == chat_pb2.MessageRole.ROLE_ASSISTANT


def test_accepts_messages_over_the_grpc_default_4_mib(client) -> None:
    rng = random.Random(5)
    noise = Image.frombytes("RGB", (1400, 1400), rng.randbytes(1400 * 1400 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG", compress_level=0)
    data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert 5 * MiB < len(data_url) < 20 * MiB
    chat = client.chat.create(model="grok-4", max_tokens=2)
    chat.append(user("Noise?", image(data_url, detail="low")))
    response = chat.sample()
    assert response.usage.prompt_image_tokens == 256


@pytest.mark.early
def test_the_keepalive_probe_made_its_call_and_now_idles(oculi_server) -> None:
    """Runs first in its group: the probe opens here, so the group's other tests fill its idle minute."""
    assert grpc.ChannelConnectivity.READY in oculi_server.keepalive.states


@pytest.mark.late
def test_idle_client_keepalive_pings_are_accepted(oculi_server) -> None:
    """Runs last in its group: the probe channel has been idle (pinging every 10 s) while the other tests ran."""
    probe = oculi_server.keepalive
    # gRPC's default policy would answer the third early ping with GOAWAY; wait for at least four pings.
    remaining = 4.5 * probe.PING_MS / 1000 - (time.monotonic() - probe.idle_since)
    if remaining > 0:
        time.sleep(remaining)
    probe.stub.ListLanguageModels(empty_pb2.Empty(), metadata=probe.metadata, timeout=30)
    ready = grpc.ChannelConnectivity.READY
    assert ready in probe.states
    after_ready = probe.states[probe.states.index(ready) :]
    assert set(after_ready) == {ready}, f"the connection was dropped: {after_ready}"
