"""SPEC §3 on Qwen2.5-VL, Qwen3-VL and Gemma 3 through every surface of a real server on the llama.cpp engine.

One ``oculi serve`` per family on its tiny GGUF fixture (text model +
mmproj, ``scripts/make_gguf_fixtures.py``), the official clients (``openai``
for chat completions and Responses, ``xai-sdk`` over gRPC) and
``/v1/image-tokens``: a sweep of sizes (1×1, thin strips, a near-tie of the
grid rule, a 12 MP photo) × ``low``/``high``/``auto``, mixed details in one
request, a stored continuation with an image, and eight concurrent mixed
requests — every count equal to the SPEC oracle, every family reporting its
own view size. (``test_api_families.py`` runs the same on the transformers engine.)
"""

from __future__ import annotations

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

try:
    import llama_cpp.mtmd_cpp  # noqa: F401

    HAVE_LLAMA_CPP = True
except (ImportError, OSError):
    HAVE_LLAMA_CPP = False

pytestmark = [
    pytest.mark.llamacpp,
    pytest.mark.skipif(not HAVE_LLAMA_CPP, reason="llama-cpp-python is not installed (scripts/build_llamacpp.sh)"),
]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gguf"
VIEW_SIZES = {"tiny-qwen2_5_vl": 448, "tiny-qwen3_vl": 512, "tiny-gemma3": 896}
# 1×1; thin strips both ways; a near-tie of the grid rule (449×448: 1×1 vs 2×1 … by area); 2:1 exactly; 12 MP.
SIZES = [(1, 1), (2000, 3), (3, 2000), (449, 448), (896, 448), (4000, 3000)]
DETAILS = ["low", "high", "auto"]


@pytest.fixture(scope="module", params=sorted(VIEW_SIZES))
def gguf_server(request) -> Iterator[tuple[str, ServerProcess]]:
    name = request.param
    env = {
        "OCULI_THREADS": "2",
        "OCULI_ENGINE": "llamacpp",
        "OCULI_MMPROJ": str(FIXTURES / f"{name}-mmproj.gguf"),
        "OCULI_LLAMACPP_CONTEXT": "8192",
        "OCULI_MAX_BATCH_SIZE": "8",
    }
    with running_server(models=[str(FIXTURES / f"{name}.gguf")], api_keys=[KEY], env=env) as server:
        yield name, server


@pytest.fixture(scope="module")
def images() -> dict[tuple[int, int], str]:
    """Each size once, as a data URL (JPEG for the 12 MP photo, PNG otherwise)."""
    return {
        size: data_url(image_bytes(*size, fmt="JPEG" if size[0] * size[1] > 4_000_000 else "PNG", seed=i))
        for i, size in enumerate(SIZES)
    }


@pytest.fixture(scope="module")
def openai_client(gguf_server) -> OpenAI:
    return OpenAI(base_url=gguf_server[1].v1, api_key=KEY, max_retries=0, timeout=300)


def _chat_image_tokens(client: OpenAI, parts: list[dict]) -> int:
    completion = client.chat.completions.create(
        model="grok-4",
        messages=[{"role": "user", "content": [*parts, {"type": "text", "text": "What is this?"}]}],
        max_tokens=1,
        temperature=0,
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    return int(completion.usage.prompt_tokens_details.image_tokens or 0)


def test_image_tokens_endpoint_reports_the_family_view_size(gguf_server, images):
    name, server = gguf_server
    body = {"images": [{"image_url": images[s], "detail": d} for s in SIZES for d in DETAILS]}
    response = httpx.post(
        f"{server.base_url}/v1/image-tokens", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=60
    )
    assert response.status_code == 200, response.text
    counts = response.json()["images"]
    assert [c["image_tokens"] for c in counts] == [expected_image_tokens(*s, d) for s in SIZES for d in DETAILS]
    assert {c["tile_size"] for c in counts} == {VIEW_SIZES[name]}


@pytest.mark.parametrize("detail", DETAILS)
def test_chat_completions_usage_is_exact_for_every_size(openai_client, images, detail):
    for size in SIZES:
        part = {"type": "image_url", "image_url": {"url": images[size], "detail": detail}}
        assert _chat_image_tokens(openai_client, [part]) == expected_image_tokens(*size, detail), size


def test_responses_stored_continuation_recounts_the_image(openai_client, images):
    size = (896, 448)
    content = [
        {"type": "input_image", "image_url": images[size], "detail": "high"},
        {"type": "input_text", "text": "Remember this picture."},
    ]
    first = openai_client.responses.create(
        model="grok-4", input=[{"role": "user", "content": content}], max_output_tokens=2
    )
    again = openai_client.responses.create(
        model="grok-4", previous_response_id=first.id, input="What was in it?", max_output_tokens=2
    )
    expected = expected_image_tokens(*size, "high")
    for response in (first, again):
        assert response.usage is not None
        assert int((response.usage.input_tokens_details.model_extra or {})["image_tokens"]) == expected
    assert again.usage.input_tokens > first.usage.input_tokens  # type: ignore[union-attr]
    assert again.usage.input_tokens_details.cached_tokens >= expected  # type: ignore[union-attr]  # KV reused


def test_grpc_usage_is_exact_with_mixed_details_in_one_request(gguf_server, images):
    parts = [(SIZES[0], "high"), (SIZES[3], "auto"), (SIZES[4], "low"), (SIZES[5], "high")]
    with Client(api_key=KEY, api_host=f"localhost:{gguf_server[1].grpc_port}", timeout=300) as client:
        chat = client.chat.create(model="grok-4", max_tokens=1, temperature=0)
        chat.append(xai_user("Compare them.", *(xai_image(images[s], detail=d) for s, d in parts)))  # type: ignore[arg-type]
        response = chat.sample()
    assert response.usage.prompt_image_tokens == sum(expected_image_tokens(*s, d) for s, d in parts)


def test_eight_concurrent_mixed_requests_each_get_their_own_count(openai_client, images):
    cases = [(SIZES[i % len(SIZES)], DETAILS[i % 3]) for i in range(8)]

    def ask(case):
        (size, detail) = case
        part = {"type": "image_url", "image_url": {"url": images[size], "detail": detail}}
        return _chat_image_tokens(openai_client, [part, part] if detail == "low" else [part])

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ask, cases))
    assert got == [expected_image_tokens(*s, d) * (2 if d == "low" else 1) for s, d in cases]
