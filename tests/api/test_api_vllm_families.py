"""Qwen2.5-VL, Qwen3-VL and Gemma 3 on the vLLM engine: SPEC §3 exact, ``detail`` per image.

One real ``oculi serve --engine vllm`` per family (tiny random checkpoints,
text head size 32), reached with the official clients. The counts come from
the prompt vLLM actually fed the model (its own processor expanded the
views oculi rendered at the family's view size), so an image vLLM resized
or a ``detail`` it ignored would show here: sizes × ``low``/``high``/``auto``
on chat completions, mixed details in one Responses request and its stored
continuation, xai-sdk over gRPC, eight concurrent mixed requests, and the
same image at two details hitting vLLM's caches under different identities.

Skipped only when vLLM is not installed and ``CI`` is unset.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from api_support import KEY, data_url, image_bytes
from openai import OpenAI
from spec_oracle import expected_image_tokens
from xai_sdk import Client
from xai_sdk.chat import image as xai_image
from xai_sdk.chat import user as xai_user

from oculi.testing.server import ServerProcess, running_server

if importlib.util.find_spec("vllm") is None and not os.environ.get("CI"):
    pytest.skip("vLLM is not installed (OCULI_VLLM=cpu ./scripts/install.sh installs it)", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SIZES = [(1, 1), (2000, 3), (3, 2000), (449, 448), (900, 600), (4000, 3000)]
DETAILS = ["low", "high", "auto"]
VLLM_ENV = {
    "OCULI_ENGINE": "vllm",
    "OCULI_VLLM_ENFORCE_EAGER": "true",
    "OCULI_VLLM_MAX_MODEL_LEN": "8192",
    "OCULI_MAX_BATCH_SIZE": "16",
    "VLLM_CPU_KVCACHE_SPACE": "1",
}


@pytest.fixture(scope="module")
def server(tiny_family: Path) -> Iterator[ServerProcess]:
    with running_server(models=[str(tiny_family)], api_keys=[KEY], env=VLLM_ENV, startup_timeout=600) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=server.v1, api_key=KEY, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def urls() -> dict[tuple[int, int], str]:
    return {
        size: data_url(image_bytes(*size, "JPEG" if size[0] * size[1] > 4_000_000 else "PNG", seed=i))
        for i, size in enumerate(SIZES)
    }


def _chat_image_tokens(client: OpenAI, parts: list[dict]) -> int:
    completion = client.chat.completions.create(
        model="grok-4",
        messages=[{"role": "user", "content": [*parts, {"type": "text", "text": "What is this?"}]}],
        max_tokens=1,
        temperature=0,
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    return int(completion.usage.prompt_tokens_details.image_tokens or 0)


def _part(url: str, detail: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


@pytest.mark.parametrize("detail", DETAILS)
def test_usage_is_exact_for_every_size(client, urls, detail):
    got = [_chat_image_tokens(client, [_part(urls[size], detail)]) for size in SIZES]
    assert got == [expected_image_tokens(*size, detail) for size in SIZES]


def test_mixed_details_in_one_request_and_a_stored_continuation(client, urls):
    cases = [((900, 600), "low"), ((900, 600), "high"), ((449, 448), "auto"), ((2000, 3), "high")]
    content = [{"type": "input_image", "image_url": urls[s], "detail": d} for s, d in cases]
    first = client.responses.create(
        model="grok-4",
        input=[{"role": "user", "content": [*content, {"type": "input_text", "text": "Compare."}]}],
        max_output_tokens=2,
    )
    expected = sum(expected_image_tokens(*s, d) for s, d in cases)
    assert first.usage is not None and (first.usage.input_tokens_details.model_extra or {})["image_tokens"] == expected
    again = client.responses.create(
        model="grok-4", previous_response_id=first.id, input="And now?", max_output_tokens=2
    )
    assert again.usage is not None and (again.usage.input_tokens_details.model_extra or {})["image_tokens"] == expected


def test_xai_sdk_usage_is_exact(server, urls):
    with Client(api_key=KEY, api_host=f"localhost:{server.grpc_port}", timeout=300) as c:
        chat = c.chat.create(model="grok-4", max_tokens=1, temperature=0)
        chat.append(xai_user("Describe.", xai_image(urls[(900, 600)], detail="high"), xai_image(urls[(1, 1)])))
        response = chat.sample()
    assert response.usage.prompt_image_tokens == expected_image_tokens(900, 600, "high") + 256


def test_image_tokens_endpoint_counts_at_the_family_view_size(server, tiny_family, urls):
    body = {"images": [{"image_url": urls[s], "detail": d} for s in SIZES for d in DETAILS]}
    response = httpx.post(
        f"{server.base_url}/v1/image-tokens", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=60
    )
    assert response.status_code == 200, response.text
    counts = response.json()["images"]
    assert [c["image_tokens"] for c in counts] == [expected_image_tokens(*s, d) for s in SIZES for d in DETAILS]
    view = {"tiny-qwen2_5_vl": 448, "tiny-qwen3_vl": 512, "tiny-gemma3": 896}[tiny_family.name.rsplit("-v", 1)[0]]
    assert {c["tile_size"] for c in counts} == {view}


def test_eight_concurrent_mixed_requests(client, urls):
    cases = [(SIZES[i % len(SIZES)], DETAILS[i % 3]) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda c: _chat_image_tokens(client, [_part(urls[c[0]], c[1])]), cases))
    assert got == [expected_image_tokens(*s, d) for s, d in cases]
