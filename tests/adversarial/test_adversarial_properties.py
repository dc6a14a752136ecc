"""Property-based fuzzing (Hypothesis) of the wire schemas and the image decoder.

Whatever JSON a client sends, parsing and mapping it either succeeds or
raises a validation error / ``OculiError`` (a 422 / 4xx), never anything
else (a 500). Whatever bytes arrive as an image, decoding raises only
``ImageError`` (a 400) whose message shows no internals.
"""

from __future__ import annotations

import pydantic
from adversarial_support import assert_no_internals, jpeg, png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oculi.api.chat import mapper as chat_mapper
from oculi.api.chat.schemas import ChatCompletionRequest
from oculi.api.responses import mapper as responses_mapper
from oculi.api.responses.schemas import ResponseCreateRequest
from oculi.errors import ImageError, OculiError
from oculi.intake.decode import check_type, decode_rgb, read_header

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _parts(kinds: list[str]) -> st.SearchStrategy[dict]:
    url = st.sampled_from(["data:image/png;base64,iVBORw0KGgo", "data:,", "ftp://x", "http://", "", "data:image/"])
    detail = st.sampled_from(["auto", "low", "high", "HIGH", "", None]) | json_values
    return st.fixed_dictionaries(
        {"type": st.sampled_from(kinds) | json_values},
        optional={
            "text": json_values,
            "image_url": st.fixed_dictionaries({"url": url | json_values}, optional={"detail": detail})
            | url
            | json_values,
            "detail": detail,
        },
    )


chat_messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "developer", "tool", "x"]) | json_values},
        optional={"content": st.text(max_size=20) | st.lists(_parts(["text", "image_url"]), max_size=3) | json_values},
    ),
    max_size=3,
)
chat_bodies = st.fixed_dictionaries(
    {"model": st.text(max_size=10) | json_values, "messages": chat_messages | json_values},
    optional={k: json_values for k in ("max_tokens", "stream", "n", "temperature", "top_p", "stop", "seed")},
)
responses_bodies = st.fixed_dictionaries(
    {
        "model": st.text(max_size=10) | json_values,
        "input": st.text(max_size=20)
        | st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "system", "assistant"]) | json_values},
                optional={
                    "type": st.sampled_from(["message"]) | json_values,
                    "content": st.text(max_size=10) | st.lists(_parts(["input_text", "input_image"]), max_size=3),
                },
            ),
            max_size=3,
        )
        | json_values,
    },
    optional={k: json_values for k in ("max_output_tokens", "stream", "store", "instructions", "temperature")},
)


@FUZZ
@given(chat_bodies)
def test_chat_bodies_parse_or_are_refused(body: dict) -> None:
    try:
        request = ChatCompletionRequest.model_validate(body)
        chat_mapper.to_conversation(request)
        chat_mapper.to_params(request)
    except pydantic.ValidationError:
        pass  # → 422
    except OculiError as exc:
        assert 400 <= exc.status < 500
        assert_no_internals(exc.message)


@FUZZ
@given(responses_bodies)
def test_responses_bodies_parse_or_are_refused(body: dict) -> None:
    try:
        request = ResponseCreateRequest.model_validate(body)
        responses_mapper.to_conversation(request)
        responses_mapper.to_params(request)
    except pydantic.ValidationError:
        pass
    except OculiError as exc:
        assert 400 <= exc.status < 500
        assert_no_internals(exc.message)


SEEDS = [png(24, 16), png(3, 40, noise=True), jpeg(32, 24)]


def _decode(data: bytes) -> None:
    try:
        mime = check_type(data)
        header = read_header(data, mime, max_pixels=4_000_000)
        image = decode_rgb(data, header, min_size=None, max_pixels=4_000_000)
        assert image.mode == "RGB" and image.size == (header.width, header.height)
    except ImageError as exc:
        assert exc.status == 400
        assert_no_internals(exc.message)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8))
def test_mutated_images_decode_or_are_400s(seed: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(seed)
    for position, value in flips:
        data[position % len(data)] = value
    _decode(bytes(data))


@FUZZ
@given(st.sampled_from(SEEDS), st.integers(0, 10**6))
def test_truncated_images_are_400s(seed: bytes, cut: int) -> None:
    _decode(seed[: cut % len(seed)])


@FUZZ
@given(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b""]), st.binary(max_size=300))
def test_random_bytes_behind_a_signature_are_400s(signature: bytes, tail: bytes) -> None:
    _decode(signature + tail)


def test_the_seed_images_decode() -> None:
    for seed in SEEDS:
        header = read_header(seed, check_type(seed), max_pixels=10**6)
        assert decode_rgb(seed, header, min_size=None, max_pixels=10**6).size == (header.width, header.height)
