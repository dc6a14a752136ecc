"""The ``content`` auto-detail policy on every surface: the counting endpoint and usage agree (issue 31).

A small-text page and a photo, both larger than one view, go to
``/v1/image-tokens``, chat completions, Responses and gRPC ``GetCompletion``
of a server run with ``OCULI_AUTO_DETAIL=content``: each surface reports the
same level, reason and image tokens per image, and the image tokens are the
SPEC §3 formula for that level. The server is the scripted engine (its usage
is the plan intake chose; the real engines' usage for a chosen plan is
checked in tests/unit/intake/test_intake_detail_usage.py).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import grpc
import httpx
import numpy as np
import pytest
from api_support import KEY, data_url
from openai import OpenAI
from PIL import Image, ImageDraw, ImageFont
from servers import Config, Servers

from oculi.domain import Detail
from oculi.intake.tiling import plan_tiles
from oculi.testing.server import ServerProcess

SIZE = (1600, 1200)
HIGH = plan_tiles(*SIZE, Detail.HIGH).image_tokens


@pytest.fixture(scope="module")
def content_server(servers: Servers) -> Iterator[ServerProcess]:
    """The scripted engine behind the real HTTP and gRPC stacks, ``auto`` resolved by content (a server setting)."""
    with servers.lease(Config.of(scripted=True, env={"OCULI_AUTO_DETAIL": "content"})) as server:
        yield server


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    page = Image.new("RGB", SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(page)
    for y in range(20, SIZE[1] - 40, 21):
        draw.text((20, y), "Invoice 2291 total due 1,204.50 EUR", fill=(0, 0, 0), font=ImageFont.load_default(14))
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    photo = Image.fromarray(coarse).resize(SIZE, Image.Resampling.BICUBIC)
    return {"page": data_url(encoded(page, "PNG")), "photo": data_url(encoded(photo, "JPEG"))}


def count(server: ServerProcess, url: str, detail: str | None = None, question: str | None = None) -> dict:
    body = {"image_url": url, "detail": detail, "question": question}
    answer = httpx.post(
        f"{server.base_url}/v1/image-tokens", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["images"][0]


def test_counting_endpoint_reports_level_and_reason(content_server: ServerProcess, images: dict[str, str]) -> None:
    page, photo = count(content_server, images["page"]), count(content_server, images["photo"])
    assert (page["detail"], page["reason"], page["image_tokens"]) == ("high", "small text or fine detail", HIGH)
    assert (photo["detail"], photo["reason"], photo["image_tokens"]) == ("low", "one view keeps the detail", 256)
    asked = count(content_server, images["photo"], question="How many windows are there?")
    assert (asked["detail"], asked["reason"], asked["image_tokens"]) == ("high", "question asks for detail", HIGH)
    for url, detail, tokens in ((images["page"], "low", 256), (images["photo"], "high", HIGH)):
        explicit = count(content_server, url, detail=detail)
        assert (explicit["detail"], explicit["reason"], explicit["image_tokens"]) == (detail, "requested", tokens)


def expected(server: ServerProcess, images: dict[str, str], question: str) -> list[dict]:
    counts = [count(server, images[name], question=question) for name in ("page", "photo")]
    return [{"detail": c["detail"], "reason": c["reason"], "image_tokens": c["image_tokens"]} for c in counts]


@pytest.mark.parametrize("question", ["Describe these two pictures.", "Read every word in these pictures."])
def test_usage_agrees_with_the_count_on_chat_and_responses(
    content_server: ServerProcess, images: dict[str, str], question: str
) -> None:
    want = expected(content_server, images, question)
    client = OpenAI(base_url=content_server.v1, api_key=KEY)
    chat = client.chat.completions.create(
        model="grok-4",
        max_tokens=4,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": images["page"]}},
                    {"type": "image_url", "image_url": {"url": images["photo"]}},
                    {"type": "text", "text": question},
                ],
            }
        ],
    )
    details = chat.usage.prompt_tokens_details
    assert details.image_tokens == sum(w["image_tokens"] for w in want)
    assert details.model_extra["image_details"] == want
    response = client.responses.create(
        model="grok-4",
        max_output_tokens=4,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": images["page"]},
                    {"type": "input_image", "image_url": images["photo"]},
                    {"type": "input_text", "text": question},
                ],
            }
        ],
    )
    assert response.usage.input_tokens_details.image_tokens == sum(w["image_tokens"] for w in want)
    assert response.usage.input_tokens_details.model_extra["image_details"] == want
    stored = httpx.get(
        f"{content_server.v1}/responses/{response.id}", headers={"authorization": f"Bearer {KEY}"}, timeout=30
    ).json()
    assert stored["usage"]["input_tokens_details"]["image_details"] == want  # kept with the stored response


def test_grpc_usage_and_trailing_metadata_agree_with_the_count(
    content_server: ServerProcess, images: dict[str, str]
) -> None:
    from xai_sdk.proto import chat_pb2, chat_pb2_grpc, image_pb2

    want = expected(content_server, images, "What is this?")
    message = chat_pb2.Message(
        role=chat_pb2.ROLE_USER,
        content=[
            chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url=images["page"])),
            chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url=images["photo"])),
            chat_pb2.Content(text="What is this?"),
        ],
    )
    request = chat_pb2.GetCompletionsRequest(model="grok-4", messages=[message], max_tokens=4)
    with grpc.insecure_channel(content_server.grpc_address) as channel:
        stub = chat_pb2_grpc.ChatStub(channel)
        metadata = (("authorization", f"Bearer {KEY}"),)
        response, call = stub.GetCompletion.with_call(request, metadata=metadata, timeout=60)
        trailing = dict(call.trailing_metadata())
        assert response.usage.prompt_image_tokens == sum(w["image_tokens"] for w in want)
        assert json.loads(trailing["x-oculi-image-details"]) == want
        chunks = stub.GetCompletionChunk(request, metadata=metadata, timeout=60)
        last = list(chunks)[-1]
        assert last.usage.prompt_image_tokens == sum(w["image_tokens"] for w in want)
        assert json.loads(dict(chunks.trailing_metadata())["x-oculi-image-details"]) == want


def test_playground_shows_the_level_and_why(content_server: ServerProcess, images: dict[str, str], tmp_path) -> None:
    from playground_support import CHROMIUM, Page, browser_or_fail
    from playwright.sync_api import sync_playwright

    browser_or_fail()
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(base64.b64decode(images["photo"].split(",", 1)[1]))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        tab = Page(browser, content_server)
        try:
            tab.ready()
            tab.add_file(photo)
            card = tab.page.locator(".part-image").first
            card.locator(".detail-reason:has-text('one view keeps the detail')").wait_for()
            assert card.locator(".cost").inner_text() == "1 view (whole image) · 256 image tokens"
            tab.page.fill("#prompt", "How many windows are there?")
            tab.page.dispatch_event("#prompt", "change")  # a finished edit of the question: counted again
            card.locator(".detail-reason:has-text('question asks for detail')").wait_for()
            assert f"{HIGH} image tokens" in card.locator(".cost").inner_text()
            assert tab.errors == []
        finally:
            tab.close()
            browser.close()
