"""SPEC §3 on Qwen2.5-VL, Qwen3-VL and Gemma 3 through every surface of a real server on the llama.cpp engine.

One ``oculi serve`` serving every family's tiny GGUF fixture (text model +
mmproj, ``scripts/make_gguf_fixtures.py``; each its own model, a test names
its family's), the official clients (``openai``
for chat completions and Responses, ``xai-sdk`` over gRPC) and
``/v1/image-tokens``: a sweep of sizes (1×1, thin strips, a near-tie of the
grid rule, a 12 MP photo) × ``low``/``high``/``auto``, mixed details in one
request, a stored continuation with an image, and eight concurrent mixed
requests — every count equal to the SPEC oracle, every family reporting its
own view size. (``test_api_families.py`` runs the same on the transformers engine.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import KEY
from family_checks import (
    DETAILS,
    VIEW_SIZES,
    check_chat_usage,
    check_eight_concurrent,
    check_grpc_mixed_details,
    check_image_tokens_endpoint,
    check_stored_continuation,
    image_urls,
    served_model,
)
from gguf_fixtures import FIXTURES, LLAMACPP
from openai import OpenAI
from servers import Servers, families
from spec_oracle import expected_image_tokens

from oculi.testing.server import ServerProcess

#: One server for every family: all of this module's tests go where it runs.
pytestmark = [*LLAMACPP, pytest.mark.on_server("llama.cpp families")]
FAMILIES = sorted(VIEW_SIZES)


@pytest.fixture(scope="module")
def gguf_server(servers: Servers) -> Iterator[ServerProcess]:
    env = {
        "OCULI_ENGINE": "llamacpp",
        "OCULI_MMPROJ": ",".join(str(FIXTURES / f"{name}-mmproj.gguf") for name in FAMILIES),
        "OCULI_LLAMACPP_CONTEXT": "8192",
        "OCULI_MAX_BATCH_SIZE": "8",
    }
    with servers.lease(families([FIXTURES / f"{name}.gguf" for name in FAMILIES], env)) as server:
        yield server


@pytest.fixture(scope="module", params=FAMILIES)
def name(request: pytest.FixtureRequest) -> str:
    """This test's family."""
    return request.param


@pytest.fixture(scope="module")
def model(gguf_server: ServerProcess, name: str) -> str:
    """The id the server serves this test's family under (asked once per family)."""
    return served_model(gguf_server, name)


@pytest.fixture(scope="module")
def images() -> dict[tuple[int, int], str]:
    return image_urls()


@pytest.fixture(scope="module")
def openai_client(gguf_server) -> OpenAI:
    return OpenAI(base_url=gguf_server.v1, api_key=KEY, max_retries=0, timeout=300)


def test_image_tokens_endpoint_reports_the_family_view_size(gguf_server, name, model, images):
    check_image_tokens_endpoint(gguf_server, model, images, VIEW_SIZES[name])


@pytest.mark.parametrize("detail", DETAILS)
def test_chat_completions_usage_is_exact_for_every_size(openai_client, model, images, detail):
    check_chat_usage(openai_client, model, images, detail)


#: Hybrid models whose recurrent layers cannot be cut back to a shared prefix: llama.cpp reads their prompt whole.
RECURRENT = {"tiny-qwen3_5"}


def test_responses_stored_continuation_recounts_the_image(name, model, openai_client, images):
    _, again = check_stored_continuation(openai_client, model, images)
    cached = again.usage.input_tokens_details.cached_tokens
    if name in RECURRENT:
        assert cached == 0  # nothing reused is claimed
    else:
        assert cached >= expected_image_tokens(896, 448, "high")  # KV reused


def test_grpc_usage_is_exact_with_mixed_details_in_one_request(gguf_server, model, images):
    check_grpc_mixed_details(gguf_server, model, images)


def test_eight_concurrent_mixed_requests_each_get_their_own_count(openai_client, model, images):
    check_eight_concurrent(openai_client, model, images)
