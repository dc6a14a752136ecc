"""Models, tokenization, image-token counting, API-key info, health, metrics and the OpenAPI page."""

from __future__ import annotations

import httpx
import openai
import pytest
from api_support import KEY, ImageServer, data_url, image_bytes
from openai import OpenAI
from spec_oracle import expected_image_tokens

from oculi.testing.server import ServerProcess


@pytest.fixture
def client(vlm_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=vlm_server.v1, api_key=KEY, max_retries=0)


def test_models_list_and_alias(client: OpenAI, tiny_internvl) -> None:
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == tiny_internvl.name  # the default model first
    assert all(m.object == "model" and m.owned_by for m in models.data)
    assert client.models.retrieve("grok-4").id == ids[0]
    assert client.models.retrieve(ids[0]).id == ids[0]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_language_models_xai_shape(http: httpx.Client) -> None:
    listing = http.get("/v1/language-models")
    assert listing.status_code == 200
    models = listing.json()["models"]
    default = models[0]
    assert default["input_modalities"] == ["text", "image"]
    assert default["output_modalities"] == ["text"]
    assert "grok-*" in default["aliases"]
    assert default["max_prompt_length"] > 0
    one = http.get("/v1/language-models/grok-4.20-reasoning")
    assert one.status_code == 200 and one.json()["id"] == default["id"]
    assert http.get("/v1/language-models/unknown").status_code == 404


def test_tokenize_text(http: httpx.Client) -> None:
    response = http.post("/v1/tokenize-text", json={"text": "Hello image world", "model": "grok-4"})
    assert response.status_code == 200
    tokens = response.json()["token_ids"]
    assert tokens and all(set(t) == {"token_id", "string_token", "token_bytes"} for t in tokens)
    assert "".join(t["string_token"] for t in tokens).replace("Ġ", " ").strip().startswith("Hello")
    assert all(bytes(t["token_bytes"]).decode("utf-8") == t["string_token"] for t in tokens)
    assert http.post("/v1/tokenize-text", json={"text": "x", "model": "nope"}).status_code == 404


@pytest.mark.parametrize(("size", "detail"), [((1000, 500), "high"), ((1000, 500), "low"), ((400, 300), "auto")])
def test_image_token_count_matches_spec_and_usage(
    http: httpx.Client, size: tuple[int, int], detail: str, image_server: ImageServer
) -> None:
    url = image_server.add(f"/count-{size[0]}-{detail}.png", image_bytes(*size))
    counted = http.post("/v1/image-tokens", json={"image_url": url, "detail": detail})
    assert counted.status_code == 200, counted.text
    expected = expected_image_tokens(*size, detail)
    assert counted.json()["image_tokens"] == expected
    assert counted.json()["images"][0]["width"] == size[0]
    # The same number the model is fed.
    body = {
        "model": "grok-4",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url, "detail": detail}}]}],
    }
    used = http.post("/v1/chat/completions", json=body).json()["usage"]["prompt_tokens_details"]["image_tokens"]
    assert used == expected


def test_image_token_count_of_several_and_errors(http: httpx.Client) -> None:
    images = [
        {"image_url": data_url(image_bytes(2000, 1000)), "detail": "high"},
        {"image_url": data_url(image_bytes(100, 100))},
    ]
    counted = http.post("/v1/image-tokens", json={"images": images}).json()
    assert [i["image_tokens"] for i in counted["images"]] == [
        expected_image_tokens(2000, 1000, "high"),
        256,
    ]
    assert counted["image_tokens"] == sum(i["image_tokens"] for i in counted["images"])
    bad = http.post("/v1/image-tokens", json={"images": [images[1], {"image_url": "data:image/png;base64,AAAA"}]})
    assert bad.status_code == 400 and "Image 1" in bad.json()["error"]
    assert (
        http.post("/v1/image-tokens", json={"image_url": images[1]["image_url"], "detail": "huge"}).status_code == 400
    )
    assert http.post("/v1/image-tokens", json={}).status_code == 400


def test_api_key_info(http: httpx.Client, vlm_server: ServerProcess) -> None:
    info = http.get("/v1/api-key").json()
    assert info["redacted_api_key"] != KEY and info["redacted_api_key"].startswith(KEY[:3])
    assert KEY not in str(info)
    assert info["acls"] and info["api_key_blocked"] is False and info["api_key_disabled"] is False
    assert httpx.get(vlm_server.v1 + "/api-key").status_code == 401


def test_health_metrics_and_docs(vlm_server: ServerProcess, http: httpx.Client) -> None:
    health = http.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    http.post("/v1/chat/completions", json={"model": "grok-4", "max_tokens": 1, "messages": []})
    metrics = http.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for name in (
        "oculi_requests_total",
        "oculi_request_latency_seconds_bucket",
        "oculi_queue_depth",
        "oculi_images_total",
        "oculi_image_tokens_total",
        "oculi_image_decode_seconds_bucket",
    ):
        assert name in text, name
    assert 'endpoint="/v1/chat/completions"' in text and 'status="400"' in text
    docs = http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = http.get("/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/responses", "/v1/image-tokens"} <= set(spec["paths"])
