"""Thin, huge, odd and broken images against every engine: a 200 or a clear 4xx, in bounded memory.

The first row of issue 11: one 1000×1 PNG drove oculi-lite to 22 GB (RapidOCR
blew it up to a 30000×7500 detection input) and 2000×1 … 1×20000 were 500s.
"""

from __future__ import annotations

import base64

import httpx
import pytest
from adversarial_support import AUTH, MiB, assert_client_error_or_ok, bad_crc_png, guarded, png, truncated_png

from oculi.testing.server import ServerProcess

THIN = [(1000, 1), (1, 1000), (600, 1), (1000, 2), (300, 1), (2000, 1), (4000, 1), (20000, 1), (1, 20000)]


def ask(server: ServerProcess, image: bytes, question: str = "What does it say?", **extra: object) -> httpx.Response:
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    content = [{"type": "text", "text": question}, {"type": "image_url", "image_url": {"url": url}}]
    body = {"model": "grok-4", "max_tokens": 8, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(server.v1 + "/chat/completions", json=body, headers=AUTH, timeout=120)


@pytest.mark.slow
def test_thin_images_on_oculi_lite(lite_server: ServerProcess) -> None:
    with guarded(lite_server, rss_bound=lite_server.rss_bytes() + 1536 * MiB):
        for width, height in THIN:
            response = ask(lite_server, png(width, height))
            assert response.status_code == 200, (width, height, response.text[:300])


@pytest.mark.slow
def test_thin_images_on_the_transformers_engine(vlm_server: ServerProcess) -> None:
    with guarded(vlm_server, rss_bound=vlm_server.rss_bytes() + 1024 * MiB):
        for width, height in THIN:
            for detail in ("low", "high"):
                url = "data:image/png;base64," + base64.b64encode(png(width, height)).decode()
                part = {"type": "image_url", "image_url": {"url": url, "detail": detail}}
                body = {"model": "grok-4", "max_tokens": 4, "messages": [{"role": "user", "content": [part]}]}
                response = httpx.post(vlm_server.v1 + "/chat/completions", json=body, headers=AUTH, timeout=120)
                assert response.status_code == 200, (width, height, detail, response.text[:300])


@pytest.mark.slow
def test_thin_images_on_llama_cpp(gguf_server: ServerProcess) -> None:
    models = [m["id"] for m in httpx.get(gguf_server.v1 + "/models", headers=AUTH).json()["data"]]
    assert len([m for m in models if m != "oculi-lite"]) == 2, models
    with guarded(gguf_server, rss_bound=gguf_server.rss_bytes() + 1024 * MiB):
        for model in models:
            for width, height in [*THIN, (3000, 2), (2, 3000), (4000, 3000)]:
                response = ask(gguf_server, png(width, height), model=model)
                assert response.status_code == 200, (model, width, height, response.text[:300])


#: The shapes every engine's processor path gets for a model outside the SPEC §3 families (issue 28).
HOSTILE = [(1, 1), (3000, 2), (2, 3000), (20000, 1), (1, 20000), (4000, 3000)]


async def test_hostile_shapes_on_a_model_outside_the_families_on_the_transformers_engine(tmp_path) -> None:
    """LLaVA (its own processor decides the image tokens), in this process: a 200 for every shape and detail."""
    from servers import KEY, app_client

    from oculi.settings import Settings
    from oculi.testing.checkpoints import cached_checkpoint

    settings = Settings(
        models=[str(cached_checkpoint("tiny-llava"))],
        api_keys=[KEY],
        threads=2,
        offline=True,
        store_url=f"sqlite:///{tmp_path}/o.db",
    )
    async with app_client(settings) as http:
        for width, height in HOSTILE:
            url = "data:image/png;base64," + base64.b64encode(png(width, height)).decode()
            for detail in ("low", "high", "auto"):
                part = {"type": "image_url", "image_url": {"url": url, "detail": detail}}
                body = {"model": "grok-4", "max_tokens": 2, "messages": [{"role": "user", "content": [part]}]}
                auth = {"authorization": f"Bearer {KEY}"}
                response = await http.post("/v1/chat/completions", json=body, headers=auth)
                assert response.status_code == 200, (width, height, detail, response.text[:300])
                assert response.json()["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize("image", [bad_crc_png(), truncated_png(), b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0garbage"])
def test_broken_images_are_400s_without_internals(lite_server: ServerProcess, image: bytes) -> None:
    response = ask(lite_server, image)
    assert response.status_code == 400, response.text
    assert_client_error_or_ok(response)
