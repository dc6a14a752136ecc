"""Chat completions through the official ``openai`` client against a real server with the tiny InternVL checkpoint."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from api_support import KEY, OTHER_KEY, ImageServer, data_url, image_bytes
from openai import OpenAI
from spec_oracle import expected_image_tokens

from oculi.testing.server import ServerProcess


@pytest.fixture
def client(vlm_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=vlm_server.v1, api_key=KEY, max_retries=0, timeout=120)


def expected_tokens(width: int, height: int, detail: str) -> int:
    return expected_image_tokens(width, height, detail)


def test_spec_examples_of_the_token_formula() -> None:
    # Hand-computed from SPEC §3, independent of the implementation's arithmetic.
    assert expected_tokens(300, 200, "auto") == 256  # both sides ≤ 448 → low
    assert expected_tokens(1000, 500, "high") == (2 + 1) * 256  # 2:1 → 2×1 grid + thumbnail
    assert expected_tokens(448, 448, "high") == (1 + 1) * 256
    assert expected_tokens(4000, 3000, "low") == 256
    assert expected_tokens(5000, 400, "high") == (6 + 1) * 256  # very wide → 6×1, the most tiles


@pytest.mark.parametrize(
    ("size", "detail"),
    [((1000, 500), "high"), ((1000, 500), "low"), ((300, 200), "auto"), ((900, 1300), "auto")],
)
def test_base64_image_usage_matches_spec(client: OpenAI, size: tuple[int, int], detail: str) -> None:
    image = data_url(image_bytes(*size, fmt="JPEG"))
    completion = client.chat.completions.create(
        model="grok-4",
        max_tokens=3,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image, "detail": detail}},
                    {"type": "text", "text": "What is in this image?"},
                ],
            }
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].index == 0
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    image_tokens = expected_tokens(*size, detail)
    assert usage.prompt_tokens_details.image_tokens == image_tokens
    assert usage.prompt_tokens == image_tokens + usage.prompt_tokens_details.text_tokens
    assert usage.prompt_tokens_details.text_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert 1 <= usage.completion_tokens <= 3


def test_url_images_interleaved_with_text(client: OpenAI, image_server: ImageServer) -> None:
    first = image_server.add("/chat/a.png", image_bytes(640, 480, seed=1))
    second = image_server.add("/chat/b.jpg", image_bytes(200, 100, fmt="JPEG", seed=2), content_type="image/jpeg")
    third = data_url(image_bytes(1200, 400, seed=3))
    completion = client.chat.completions.create(
        model="grok-4.20-reasoning",
        max_completion_tokens=2,
        messages=[
            {"role": "system", "content": "You describe images."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare"},
                    {"type": "image_url", "image_url": {"url": first, "detail": "high"}},
                    {"type": "text", "text": "with"},
                    {"type": "image_url", "image_url": second},  # a plain string is accepted too
                    {"type": "text", "text": "and"},
                    {"type": "image_url", "image_url": {"url": third, "detail": "low"}},
                ],
            },
        ],
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    expected = expected_tokens(640, 480, "high") + expected_tokens(200, 100, "auto") + 256
    assert completion.usage.prompt_tokens_details.image_tokens == expected


def test_streaming_with_usage(client: OpenAI) -> None:
    image = data_url(image_bytes(800, 600))
    stream = client.chat.completions.create(
        model="grok-4",
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": image, "detail": "high"}},
                ],
            }
        ],
    )
    chunks = list(stream)
    ids = {c.id for c in chunks}
    assert len(ids) == 1
    choice_chunks = [c for c in chunks if c.choices]
    assert choice_chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in choice_chunks[1:])
    assert choice_chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert all(c.choices[0].finish_reason is None for c in choice_chunks[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens_details is not None
    assert usage_chunk.usage.prompt_tokens_details.image_tokens == expected_tokens(800, 600, "high")
    assert usage_chunk.usage.completion_tokens >= 1


def test_stream_chunks_carry_usage_from_the_first_and_end_with_done(vlm_server: ServerProcess) -> None:
    """Like xAI, every chunk carries the usage so far (the seeds read image tokens from
    ``next(stream)``); without ``include_usage`` there is no ``choices: []`` usage chunk."""
    image = data_url(image_bytes(800, 600))
    content = [{"type": "image_url", "image_url": {"url": image, "detail": "high"}}, {"type": "text", "text": "hi"}]
    body = {"model": "grok-4", "max_tokens": 2, "stream": True, "messages": [{"role": "user", "content": content}]}
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx.stream("POST", vlm_server.v1 + "/chat/completions", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-request-id"]
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(chunk["choices"] for chunk in chunks)
    first, last = chunks[0], chunks[-1]
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert first["usage"]["prompt_tokens_details"]["image_tokens"] == expected_tokens(800, 600, "high")
    assert first["usage"]["completion_tokens"] == 0
    assert last["choices"][0]["finish_reason"] in ("stop", "length")
    assert last["usage"]["prompt_tokens"] == first["usage"]["prompt_tokens"]
    assert 1 <= last["usage"]["completion_tokens"] <= 2


def test_sampling_parameters_and_several_choices(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="grok-4",
        n=2,
        max_tokens=3,
        temperature=0.7,
        top_p=0.9,
        seed=7,
        stop=["\n\n"],
        messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Say something."}],
    )
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.usage is not None and completion.usage.completion_tokens <= 6


def test_multi_turn_with_assistant_parts(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="grok-4",
        max_tokens=2,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi there."}]},
            {"role": "user", "content": "And now?"},
        ],
    )
    assert completion.choices[0].message.content is not None


def test_deferred_completion(http: httpx.Client) -> None:
    image = data_url(image_bytes(500, 500))
    body = {
        "model": "grok-4",
        "deferred": True,
        "max_tokens": 3,
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}],
    }
    started = http.post("/v1/chat/completions", json=body)
    assert started.status_code == 200, started.text
    request_id = started.json()["request_id"]
    deadline = time.monotonic() + 60
    while True:
        poll = http.get(f"/v1/chat/deferred-completion/{request_id}")
        if poll.status_code != 202:
            break
        assert time.monotonic() < deadline, "deferred completion never finished"
        time.sleep(0.1)
    assert poll.status_code == 200, poll.text
    completion = poll.json()
    assert completion["object"] == "chat.completion"
    assert completion["id"] == request_id
    assert completion["usage"]["prompt_tokens_details"]["image_tokens"] == expected_tokens(500, 500, "auto")
    # Deferred results are the caller's alone.
    other = http.get(f"/v1/chat/deferred-completion/{request_id}", headers={"authorization": f"Bearer {OTHER_KEY}"})
    assert other.status_code == 404
    assert http.get("/v1/chat/deferred-completion/no-such-id").status_code == 404


def test_unknown_fields_are_ignored(http: httpx.Client) -> None:
    chat = http.post(
        "/v1/chat/completions",
        json={
            "model": "grok-4",
            "max_tokens": 1,
            "messages": [{"role": "user", "content": "hi", "name": "ann", "extra": 1}],
            "user": "someone",
            "logit_bias": {},
            "frequency_penalty": 0,
            "response_format": {"type": "text"},
            "search_parameters": {"mode": "off"},
        },
    )
    assert chat.status_code == 200, chat.text
    responses = http.post(
        "/v1/responses",
        json={
            "model": "grok-4",
            "input": "hi",
            "max_output_tokens": 1,
            "store": False,
            "include": [],
            "reasoning": {"effort": "low"},
            "text": {"format": {"type": "text"}},
            "tools": [],
        },
    )
    assert responses.status_code == 200, responses.text
