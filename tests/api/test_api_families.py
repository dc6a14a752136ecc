"""SPEC §3 on Qwen2.5-VL, Qwen3-VL and Gemma 3 through every surface of a real server (transformers engine).

One ``oculi serve`` serving every family (tiny random checkpoints, each its
own model; a test names its family's), the official
clients (``openai`` for chat completions and Responses, ``xai-sdk`` over
gRPC) and ``/v1/image-tokens``: a sweep of sizes (1×1, thin strips, a
near-tie of the grid rule, a 12 MP photo) × ``low``/``high``/``auto``, mixed
details in one request, a stored continuation with an image, and eight
concurrent mixed requests — every count equal to the SPEC oracle, every
family reporting its own view size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import KEY
from family_checks import (
    DETAILS,
    VIEW_SIZES,
    chat_image_tokens,
    check_chat_usage,
    check_eight_concurrent,
    check_grpc_mixed_details,
    check_image_tokens_endpoint,
    check_stored_continuation,
    image_urls,
    served_model,
)
from openai import OpenAI
from servers import FAMILY_CHECKPOINTS, Servers, families
from spec_oracle import expected_image_tokens

from oculi.testing.checkpoints import cached_checkpoint
from oculi.testing.server import ServerProcess

#: One server for every family: all of this module's tests go where it runs.
pytestmark = pytest.mark.on_server("transformers families")


@pytest.fixture(scope="module")
def family_server(servers: Servers) -> Iterator[ServerProcess]:
    with servers.lease(families([cached_checkpoint(name) for name in FAMILY_CHECKPOINTS])) as server:
        yield server


@pytest.fixture(scope="module")
def model(family_server: ServerProcess, tiny_family: Path) -> str:
    """The id the server serves this test's family under (its checkpoint's name; asked once per family)."""
    return served_model(family_server, tiny_family.name)


@pytest.fixture(scope="module")
def images() -> dict[tuple[int, int], str]:
    return image_urls()


@pytest.fixture(scope="module")
def openai_client(family_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=family_server.v1, api_key=KEY, max_retries=0, timeout=300)


def test_image_tokens_endpoint_reports_the_family_view_size(family_server, model, tiny_family, images):
    check_image_tokens_endpoint(family_server, model, images, VIEW_SIZES[tiny_family.name.rsplit("-v", 1)[0]])


@pytest.mark.parametrize("detail", DETAILS)
def test_chat_completions_usage_is_exact_for_every_size(openai_client, model, images, detail):
    check_chat_usage(openai_client, model, images, detail)


def test_responses_usage_is_exact_and_a_stored_continuation_recounts_the_image(openai_client, model, images):
    check_stored_continuation(openai_client, model, images)


def test_grpc_usage_is_exact_with_mixed_details_in_one_request(family_server, model, images):
    check_grpc_mixed_details(family_server, model, images)


def test_eight_concurrent_mixed_requests_each_get_their_own_count(openai_client, model, images):
    check_eight_concurrent(openai_client, model, images)


def test_detail_original_is_high_and_an_unknown_detail_is_a_400(openai_client, model, images):
    part = {"type": "image_url", "image_url": {"url": images[(896, 448)], "detail": "original"}}
    assert chat_image_tokens(openai_client, model, [part]) == expected_image_tokens(896, 448, "high")
    from openai import BadRequestError

    unknown = {"type": "image_url", "image_url": {"url": images[(1, 1)], "detail": "max"}}
    with pytest.raises(BadRequestError) as refused:
        chat_image_tokens(openai_client, model, [unknown])
    assert "Invalid image detail 'max'" in refused.value.response.json()["error"]


def test_streaming_seeded_n_and_stop(openai_client, model, images):
    part = {"type": "image_url", "image_url": {"url": images[(896, 448)], "detail": "high"}}
    messages = [{"role": "user", "content": [part, {"type": "text", "text": "Describe it."}]}]
    stream = openai_client.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
        temperature=0.8,
        seed=11,
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.image_tokens == expected_image_tokens(896, 448, "high")
    again = openai_client.chat.completions.create(
        model=model, messages=messages, max_tokens=6, n=2, temperature=0.8, seed=11
    )
    assert len(again.choices) == 2 and again.choices[0].message.content == streamed


def test_structured_output_and_a_required_tool_call_with_an_image(openai_client, model, images):
    from structured_models import WEATHER_TOOL, Receipt, Weather

    part = {"type": "image_url", "image_url": {"url": images[(449, 448)], "detail": "auto"}}
    messages = [{"role": "user", "content": [part, {"type": "text", "text": "Read this receipt."}]}]
    # Families that think by default (Qwen3.5, GLM-V) answer straight away when asked to.
    served = openai_client.models.retrieve(model)
    effort = {"reasoning_effort": "none"} if getattr(served, "reasoning", None) else {}
    parsed = openai_client.chat.completions.parse(
        model=model, messages=messages, response_format=Receipt, max_tokens=200, seed=1, **effort
    )
    assert isinstance(parsed.choices[0].message.parsed, Receipt)
    choice = openai_client.chat.completions.create(
        model=model,
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice="required",
        max_tokens=120,
        seed=7,
        **effort,  # type: ignore[arg-type]
    ).choices[0]
    (call,) = choice.message.tool_calls or []
    assert choice.finish_reason == "tool_calls" and call.function.name == "get_weather"  # type: ignore[union-attr]
    Weather.model_validate_json(call.function.arguments)  # type: ignore[union-attr]
