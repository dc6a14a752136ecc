"""File images are admitted by what they are (stored size, header), not by the 20 MiB worst case (issue 25).

One oculi-lite server with the default encoded-bytes budget (512 MiB: 26
images at the 20 MiB worst case) and a 256 MiB decoded budget. Forty small
uploaded images go through chat, Responses (also continuing a stored
conversation) and gRPC with exact image tokens; an image too large decoded
is a 413 naming it, by file id as inline; URL images keep their cap; stored
images (a continued conversation's, a batch request's) count their size too.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator

import openai
import pytest
from files_support import KEY, picture
from openai import OpenAI
from PIL import Image
from servers import Config, Servers
from xai_sdk import Client
from xai_sdk.chat import file, user

from oculi.testing.server import ServerProcess

COUNT = 40  # the report: 40 file images were a 413, from about 26 on
TOKENS = 256  # each 64×64 image: detail auto → low, one 448 view
DECODED_BUDGET = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def server(servers: Servers) -> Iterator[ServerProcess]:
    """oculi-lite with a 256 MiB decoded-memory budget."""
    with servers.lease(Config.of(env={"OCULI_MAX_INFLIGHT_DECODED_BYTES": str(DECODED_BUDGET)})) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=server.v1, api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def small_files(client: OpenAI) -> list[str]:
    """``COUNT`` different 64×64 PNGs (a few hundred bytes each), uploaded."""
    return [client.files.create(file=(f"s{i}.png", picture(64, 64, seed=i)), purpose="vision").id for i in range(COUNT)]


def chat(client: OpenAI, parts: list[dict[str, object]]) -> openai.types.CompletionUsage:
    completion = client.chat.completions.create(
        model="grok-4", max_tokens=4, messages=[{"role": "user", "content": [*parts, {"type": "text", "text": "Hi"}]}]
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    return completion.usage


def by_file(file_id: str) -> dict[str, object]:
    return {"type": "file", "file": {"file_id": file_id}}


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def inline(data: bytes) -> dict[str, object]:
    return {"type": "image_url", "image_url": {"url": data_url(data)}}


def by_url(url: str) -> dict[str, object]:
    return {"type": "image_url", "image_url": {"url": url}}


def test_many_small_file_images_on_chat_cost_what_they_are(client: OpenAI, small_files: list[str]) -> None:
    usage = chat(client, [by_file(f) for f in small_files])
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.image_tokens == COUNT * TOKENS
    same_inline = chat(client, [inline(picture(64, 64, seed=i)) for i in range(COUNT)])
    assert same_inline.prompt_tokens == usage.prompt_tokens


def test_many_small_file_images_on_responses_and_a_stored_continuation(client: OpenAI, small_files: list[str]) -> None:
    half = COUNT // 2
    first = client.responses.create(
        model="grok-4",
        max_output_tokens=4,
        input=[
            {
                "role": "user",
                "content": [{"type": "input_image", "file_id": f, "detail": "auto"} for f in small_files[:half]],
            }
        ],
    )
    assert first.usage is not None
    assert first.usage.input_tokens_details.image_tokens == half * TOKENS  # type: ignore[attr-defined]
    # The continuation re-admits the stored conversation's file images by their size too: 40 in all.
    second = client.responses.create(
        model="grok-4",
        max_output_tokens=4,
        previous_response_id=first.id,
        input=[{"role": "user", "content": [{"type": "input_image", "file_id": f} for f in small_files[half:]]}],
    )
    assert second.usage is not None
    assert second.usage.input_tokens_details.image_tokens == COUNT * TOKENS  # type: ignore[attr-defined]


def test_many_small_file_images_over_grpc(server: ServerProcess, small_files: list[str]) -> None:
    with Client(api_key=KEY, api_host=server.grpc_address, timeout=120) as xai:
        conversation = xai.chat.create(model="grok-4", max_tokens=4)
        conversation.append(user("Hi", *[file(f) for f in small_files]))
        response = conversation.sample()
    assert response.usage.prompt_image_tokens == COUNT * TOKENS


def test_an_image_too_large_decoded_is_a_413_naming_it(client: OpenAI) -> None:
    big = io.BytesIO()
    Image.new("RGB", (6000, 6000), "white").save(big, "PNG")  # 36 Mpx: ~290 MB decoded, ~100 kB stored
    data = big.getvalue()
    uploaded = client.files.create(file=("big.png", data), purpose="vision")
    with pytest.raises(openai.APIStatusError) as caught:
        chat(client, [inline(picture(64, 64)), by_file(uploaded.id)])
    assert caught.value.status_code == 413
    message = str(caught.value.body)
    assert f"image 1 (file '{uploaded.id}', 6000×6000) alone" in message and "256 MiB" in message
    # The same image inline is refused by the same rule.
    with pytest.raises(openai.APIStatusError) as inline_caught:
        chat(client, [inline(picture(64, 64)), inline(data)])
    assert inline_caught.value.status_code == 413 and "image 1 (6000×6000) alone" in str(inline_caught.value.body)


def test_mixed_file_url_and_inline_images(client: OpenAI, small_files: list[str], image_host: dict[str, bytes]) -> None:
    base = image_host["/"].decode()
    for i in range(4):
        image_host[f"/u{i}.png"] = picture(64, 64, seed=100 + i)
    urls = [f"{base}/u{i}.png" for i in range(4)]
    parts = [by_file(f) for f in small_files] + [inline(picture(64, 64, seed=200 + i)) for i in range(10)]
    usage = chat(client, [*parts, *map(by_url, urls[:2])])  # 40 files + 10 inline + 2 URLs
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.image_tokens == 52 * TOKENS
    # A URL image keeps the 20 MiB cap until it is fetched (4 copies of it while the request runs: 80 MiB
    # each against the decoded budget): four of them can never fit 256 MiB, next to any number of small files.
    with pytest.raises(openai.APIStatusError) as caught:
        chat(client, [by_file(small_files[0]), *map(by_url, urls)])
    assert caught.value.status_code == 413 and "would take about 320 MiB" in str(caught.value.body)


def test_stored_inline_images_are_re_admitted_by_their_size(client: OpenAI) -> None:
    """A continued conversation's inline images, and a batch request's, are stored: charged what they are too."""
    images = [{"type": "input_image", "image_url": data_url(picture(64, 64, seed=300 + i))} for i in range(30)]
    first = client.responses.create(model="grok-4", max_output_tokens=4, input=[{"role": "user", "content": images}])
    second = client.responses.create(model="grok-4", max_output_tokens=4, previous_response_id=first.id, input="More?")
    assert second.usage is not None
    assert second.usage.input_tokens_details.image_tokens == 30 * TOKENS  # type: ignore[attr-defined]
    content = [inline(picture(64, 64, seed=400 + i)) for i in range(30)]
    body = {"model": "grok-4", "max_tokens": 4, "messages": [{"role": "user", "content": content}]}
    line = {"custom_id": "many", "method": "POST", "url": "/v1/chat/completions", "body": body}
    batch_input = client.files.create(file=("in.jsonl", json.dumps(line).encode()), purpose="batch")
    batch = client.batches.create(
        input_file_id=batch_input.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    deadline = time.monotonic() + 120
    while (batch := client.batches.retrieve(batch.id)).status != "completed":
        assert time.monotonic() < deadline and batch.status in ("validating", "in_progress", "finalizing"), batch
        time.sleep(0.3)
    assert batch.output_file_id is not None, batch.error_file_id and client.files.content(batch.error_file_id).text
    [result] = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
    assert result["response"]["body"]["usage"]["prompt_tokens_details"]["image_tokens"] == 30 * TOKENS
