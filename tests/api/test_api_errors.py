"""The error matrix through HTTP: every bad input gets the right status, the SPEC §6 shape and a useful message."""

from __future__ import annotations

import base64
import os

import httpx
import openai
import pytest
from api_support import GIF_BYTES, KEY, ImageServer, MiB, data_url, image_bytes, png_bomb
from openai import OpenAI

from oculi.testing.server import ServerProcess

GOOD = data_url(image_bytes(64, 48))


def chat_body(bad_url: str, detail: str = "auto") -> dict:
    """A chat request whose image 0 is fine and image 1 is ``bad_url``."""
    return {
        "model": "grok-4",
        "max_tokens": 1,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": GOOD}},
                    {"type": "text", "text": "compare"},
                    {"type": "image_url", "image_url": {"url": bad_url, "detail": detail}},
                ],
            }
        ],
    }


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"]
    body = response.json()
    assert set(body) >= {"code", "error"}
    assert body["code"] == code, body
    for fragment in fragments:
        assert fragment in body["error"], (fragment, body["error"])
    return body


def truncated_png() -> bytes:
    return image_bytes(300, 300)[:400]


BAD_IMAGES = {
    "gif": (lambda s: data_url(GIF_BYTES), 400, "unsupported_image_type", ("Image 1", "GIF", "JPEG", "PNG")),
    "truncated": (lambda s: data_url(truncated_png(), "image/png"), 400, "image_decode_failed", ("Image 1",)),
    "not-base64": (lambda s: "data:image/png;base64,@@@###", 400, "image_decode_failed", ("Image 1",)),
    "no-comma": (lambda s: "data:image/png;base64", 400, "image_decode_failed", ("Image 1",)),
    "empty": (lambda s: "data:image/png;base64,", 400, "image_decode_failed", ("Image 1",)),
    "bomb": (lambda s: data_url(png_bomb(), "image/png"), 400, "image_too_large", ("Image 1",)),
    "remote-404": (lambda s: s.url("/missing.png"), 400, "image_fetch_failed", ("Image 1", "127.0.0.1", "404")),
    "remote-500": (
        lambda s: s.add("/broken.png", b"oops", status=500, content_type="text/plain"),
        400,
        "image_fetch_failed",
        ("Image 1", "127.0.0.1", "500"),
    ),
    "remote-gif": (lambda s: s.add("/x.gif", GIF_BYTES, content_type="image/gif"), 400, "unsupported_image_type", ()),
    "metadata-address": (
        lambda s: "http://169.254.169.254/latest/meta-data/x.png",
        400,
        "image_url_forbidden",
        ("Image 1",),
    ),
    "redirect-to-private": (
        lambda s: s.redirect("/hop.png", "http://10.9.8.7/x.png"),
        400,
        "image_url_forbidden",
        ("Image 1",),
    ),
    "private-address": (lambda s: "http://10.1.2.3/x.png", 400, "image_url_forbidden", ("Image 1",)),
    "ftp-scheme": (lambda s: "ftp://example.com/x.png", 400, "image_url_forbidden", ("Image 1",)),
    "remote-21MiB": (
        lambda s: s.add("/huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (21 * MiB)),
        400,
        "image_too_large",
        ("Image 1", "20 MiB"),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_image_names_its_index(case: str, http: httpx.Client, image_server: ImageServer) -> None:
    make, status, code, fragments = BAD_IMAGES[case]
    assert_error(http.post("/v1/chat/completions", json=chat_body(make(image_server))), status, code, *fragments)


def test_21_mib_base64_image(http: httpx.Client) -> None:
    big = b"\xff\xd8\xff\xe0" + os.urandom(21 * MiB)
    body = chat_body(f"data:image/jpeg;base64,{base64.b64encode(big).decode()}")
    assert_error(http.post("/v1/chat/completions", json=body), 400, "image_too_large", "Image 1", "20 MiB")


def test_bad_image_through_responses(http: httpx.Client) -> None:
    body = {
        "model": "grok-4",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": GOOD},
                    {"type": "input_image", "image_url": data_url(GIF_BYTES)},
                ],
            }
        ],
    }
    assert_error(http.post("/v1/responses", json=body), 400, "unsupported_image_type", "Image 1")


@pytest.mark.parametrize("stream", [False, True])
def test_too_many_image_tokens_for_the_context(http: httpx.Client, stream: bool) -> None:
    wide = data_url(image_bytes(5000, 400))  # 6 tiles + thumbnail = 1792 tokens each
    content = [{"type": "image_url", "image_url": {"url": wide, "detail": "high"}} for _ in range(5)]
    body = {"model": "grok-4", "stream": stream, "messages": [{"role": "user", "content": content}]}
    # Refused with a status even when streaming: the first delta is fetched before the stream starts.
    error = assert_error(http.post("/v1/chat/completions", json=body), 400, "context_length_exceeded")
    assert "context length" in error["error"]
    responses_body = {
        "model": "grok-4",
        "stream": stream,
        "input": [{"role": "user", "content": [{"type": "input_image", "image_url": wide, "detail": "high"}] * 5}],
    }
    assert_error(http.post("/v1/responses", json=responses_body), 400, "context_length_exceeded")


SCHEMA_CASES = {
    "malformed-json": (b'{"model": "grok-4", "messages": [', 400, "invalid_json", "JSON"),
    "not-an-object": (b"[1, 2, 3]", 400, "invalid_json", "JSON object"),
    "messages-not-a-list": (b'{"model": "grok-4", "messages": "hi"}', 422, "invalid_schema", "messages"),
    "temperature-not-a-number": (
        b'{"model": "grok-4", "messages": [], "temperature": "hot"}',
        422,
        "invalid_schema",
        "temperature",
    ),
    "missing-model": (b'{"messages": [{"role": "user", "content": "x"}]}', 422, "invalid_schema", "model"),
    "content-wrong-type": (
        b'{"model": "grok-4", "messages": [{"role": "user", "content": 5}]}',
        422,
        "invalid_schema",
        "messages[0].content",
    ),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_CASES))
def test_schema_violations(case: str, http: httpx.Client) -> None:
    raw, status, code, fragment = SCHEMA_CASES[case]
    response = http.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert_error(response, status, code, fragment)


def message_with(part: dict) -> dict:
    return {"model": "grok-4", "messages": [{"role": "user", "content": [part]}]}


BAD_VALUES = {
    "unknown-part-type": (
        "/v1/chat/completions",
        message_with({"type": "audio", "audio": "x"}),
        "messages[0].content[0].type",
    ),
    "unknown-detail": (
        "/v1/chat/completions",
        message_with({"type": "image_url", "image_url": {"url": GOOD, "detail": "ultra"}}),
        "messages[0].content[0].image_url.detail",
    ),
    "empty-messages": ("/v1/chat/completions", {"model": "grok-4", "messages": []}, "messages"),
    "unknown-role": (
        "/v1/chat/completions",
        {"model": "grok-4", "messages": [{"role": "robot", "content": "x"}]},
        "messages[0].role",
    ),
    "temperature-out-of-range": (
        "/v1/chat/completions",
        {"model": "grok-4", "temperature": 5, "messages": [{"role": "user", "content": "x"}]},
        "temperature",
    ),
    "responses-unknown-part-type": (
        "/v1/responses",
        {"model": "grok-4", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
        "input[0].content[0].type",
    ),
    "responses-unknown-detail": (
        "/v1/responses",
        {
            "model": "grok-4",
            "input": [{"role": "user", "content": [{"type": "input_image", "image_url": GOOD, "detail": "max"}]}],
        },
        "input[0].content[0].detail",
    ),
    "image-in-a-system-message": (
        "/v1/chat/completions",
        {
            "model": "grok-4",
            "messages": [
                {"role": "system", "content": [{"type": "image_url", "image_url": {"url": GOOD}}]},
                {"role": "user", "content": "x"},
            ],
        },
        "messages[0].content[0]",
    ),
    "responses-image-in-an-assistant-message": (
        "/v1/responses",
        {
            "model": "grok-4",
            "input": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [{"type": "input_image", "image_url": GOOD}]},
            ],
        },
        "input[1].content[0]",
    ),
    "responses-unknown-item": (
        "/v1/responses",
        {"model": "grok-4", "input": [{"type": "item_reference", "id": "msg_1"}]},
        "input[0].type",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_are_400_naming_the_field(case: str, http: httpx.Client) -> None:
    path, body, field = BAD_VALUES[case]
    error = assert_error(http.post(path, json=body), 400, "invalid_request", field)
    assert error.get("param") == field


def test_unknown_model_is_404(vlm_server: ServerProcess) -> None:
    client = OpenAI(base_url=vlm_server.v1, api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.json()["code"] == "model_not_found"
    assert "gpt-17" in str(info.value.body)  # the xAI shape: body is {"code", "error": message}


def test_bad_and_missing_key_are_401(vlm_server: ServerProcess) -> None:
    client = OpenAI(base_url=vlm_server.v1, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.responses.create(model="grok-4", input="x")
    assert info.value.response.json()["code"] == "unauthenticated"
    missing = httpx.post(vlm_server.v1 + "/chat/completions", json={"model": "grok-4", "messages": []})
    assert_error(missing, 401, "unauthenticated", "API key")
    # The key is checked before the body is read: no parsing (or buffering) for strangers.
    garbage = httpx.post(
        vlm_server.v1 + "/chat/completions", content=b"{not json", headers={"authorization": "Bearer sk-wrong"}
    )
    assert_error(garbage, 401, "unauthenticated", "Incorrect API key")
    # SPEC §10: with keys configured only /health answers a stranger, and only "ok".
    anonymous = httpx.get(vlm_server.base_url + "/health")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    keyed = httpx.get(vlm_server.base_url + "/health", headers={"authorization": f"Bearer {KEY}"})
    assert "models" in keyed.json()
    for path in ("/metrics", "/docs", "/openapi.json", "/redoc"):
        assert_error(httpx.get(vlm_server.base_url + path), 401, "unauthenticated", "API key")
        assert httpx.get(vlm_server.base_url + path, headers={"authorization": f"Bearer {KEY}"}).status_code == 200


def test_official_client_error_types(vlm_server: ServerProcess) -> None:
    client = OpenAI(base_url=vlm_server.v1, api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="grok-4",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(GIF_BYTES)}}]}],
        )
    assert "Image 0" in str(bad.value.body)
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="grok-4", messages="nope")  # type: ignore[arg-type]


def test_unknown_path_and_method(http: httpx.Client) -> None:
    assert_error(http.get("/v1/nothing-here"), 404, "not_found", "/v1/nothing-here")
    assert_error(http.get("/v1/chat/completions"), 405, "method_not_allowed")


def test_request_id_is_echoed_or_made(http: httpx.Client) -> None:
    mine = http.get("/health", headers={"x-request-id": "trace-123"})
    assert mine.headers["x-request-id"] == "trace-123"
    fresh = http.get("/health", headers={"x-request-id": "bad id with spaces"})
    assert fresh.headers["x-request-id"] != "bad id with spaces"
    assert len(fresh.headers["x-request-id"]) == 32
