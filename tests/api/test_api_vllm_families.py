"""Qwen2.5-VL, Qwen3-VL and Gemma 3 on the vLLM engine: SPEC §3 exact, ``detail`` per image.

One real ``oculi serve --engine vllm`` serving every family (tiny random
checkpoints, text head size 32; each its own model and vLLM engine, a test
names its family's), reached with the official clients. The counts come from
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
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import KEY
from family_checks import (
    DETAILS,
    VIEW_SIZES,
    check_chat_usage,
    check_eight_concurrent,
    check_grpc_mixed_details,
    check_image_tokens_endpoint,
    image_urls,
    responses_image_tokens,
    served_model,
)
from openai import OpenAI
from servers import VLLM_FAMILIES, VLLM_FAMILY_KV_BYTES, Servers, vllm_families
from spec_oracle import expected_image_tokens

from oculi.testing.checkpoints import cached_checkpoint
from oculi.testing.server import ServerProcess

if importlib.util.find_spec("vllm") is None and not os.environ.get("CI"):
    pytest.skip("vLLM is not installed (OCULI_VLLM=cpu ./scripts/install.sh installs it)", allow_module_level=True)

#: One server for every family (and the thinking tests' checkpoint): all of this module's tests go where it runs.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.on_server("vllm families")]


@pytest.fixture(scope="module", params=VLLM_FAMILIES)
def tiny_family(request: pytest.FixtureRequest) -> Path:
    return cached_checkpoint(request.param)


@pytest.fixture(scope="module")
def server(servers: Servers) -> Iterator[ServerProcess]:
    with servers.lease(vllm_families()) as server:
        yield server


@pytest.fixture(scope="module")
def model(server: ServerProcess, tiny_family: Path) -> str:
    """The id the server serves this test's family under (its checkpoint's name; asked once per family)."""
    return served_model(server, tiny_family.name)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=server.v1, api_key=KEY, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def urls() -> dict[tuple[int, int], str]:
    return image_urls()


@pytest.mark.parametrize("detail", DETAILS)
def test_usage_is_exact_for_every_size(client, model, urls, detail):
    check_chat_usage(client, model, urls, detail)


def test_mixed_details_in_one_request_and_a_stored_continuation(client, model, urls):
    cases = [((896, 448), "low"), ((896, 448), "high"), ((449, 448), "auto"), ((2000, 3), "high")]
    content = [{"type": "input_image", "image_url": urls[s], "detail": d} for s, d in cases]
    first = client.responses.create(
        model=model,
        input=[{"role": "user", "content": [*content, {"type": "input_text", "text": "Compare."}]}],
        max_output_tokens=2,
    )
    expected = sum(expected_image_tokens(*s, d) for s, d in cases)
    assert responses_image_tokens(first) == expected
    again = client.responses.create(model=model, previous_response_id=first.id, input="And now?", max_output_tokens=2)
    assert responses_image_tokens(again) == expected


def test_grpc_usage_is_exact_with_mixed_details_in_one_request(server, model, urls):
    check_grpc_mixed_details(server, model, urls)


def test_image_tokens_endpoint_counts_at_the_family_view_size(server, model, tiny_family, urls):
    check_image_tokens_endpoint(server, model, urls, VIEW_SIZES[tiny_family.name.rsplit("-v", 1)[0]])


def test_eight_concurrent_mixed_requests(client, model, urls):
    check_eight_concurrent(client, model, urls)


def test_the_kv_cache_size_given_as_a_vllm_arg_is_kept(server):
    """``--vllm-arg kv_cache_memory_bytes`` sizes every engine's cache (oculi's CPU default must not override it)."""
    sizes = re.findall(r"Explicitly set \(([0-9.]+)/[0-9.]+\) GiB for KV cache", server.log_text())
    assert sizes == [f"{VLLM_FAMILY_KV_BYTES / 2**30:.2f}"] * (1 + len(VLLM_FAMILIES)), sizes
