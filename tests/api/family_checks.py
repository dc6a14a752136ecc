"""The SPEC §3 checks every engine's family tests run against a real server (transformers, llama.cpp, vLLM).

Each ``test_api_families*.py`` starts one server serving every family on its
engine and calls these with its own clients and the family's model id
(``served_model``), so the three engines are held to the very same
sweep: sizes (1×1, thin strips, a near-tie of the grid rule, 2:1, a 12 MP
photo) × ``low``/``high``/``auto``, ``/v1/image-tokens`` reporting the
family's view size, mixed details in one gRPC request, eight concurrent
mixed requests — every count equal to the SPEC oracle.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from api_support import KEY, data_url, image_bytes
from openai import OpenAI
from spec_oracle import expected_image_tokens
from xai_sdk import Client
from xai_sdk.chat import image as xai_image
from xai_sdk.chat import user as xai_user

from oculi.testing.server import ServerProcess

VIEW_SIZES = {
    "tiny-qwen2_5_vl": 448,
    "tiny-qwen3_vl": 512,
    "tiny-qwen3_5": 512,
    "tiny-glm4v": 448,
    "tiny-glm4v_moe": 448,
    "tiny-gemma3": 896,
    "tiny-gemma4": 768,
}
# 1×1; thin strips both ways; a near-tie of the grid rule (449×448: 1×1 vs 2×1 … by area); 2:1 exactly; 12 MP.
SIZES = [(1, 1), (2000, 3), (3, 2000), (449, 448), (896, 448), (4000, 3000)]
DETAILS = ["low", "high", "auto"]


def image_urls() -> dict[tuple[int, int], str]:
    """Each size once, as a data URL (JPEG for the 12 MP photo, PNG otherwise)."""
    return {
        size: data_url(image_bytes(*size, fmt="JPEG" if size[0] * size[1] > 4_000_000 else "PNG", seed=i))
        for i, size in enumerate(SIZES)
    }


def image_part(url: str, detail: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


def served_model(server: ServerProcess, family: str) -> str:
    """The id ``server`` serves family ``family`` (``tiny-qwen3_vl``) under: its checkpoint's or GGUF's name."""
    response = httpx.get(f"{server.v1}/models", headers={"authorization": f"Bearer {KEY}"}, timeout=30)
    ids = [m["id"] for m in response.json()["data"]]
    (model,) = [i for i in ids if i == family or i.startswith((f"{family}-v", f"{family}."))]
    return model


def chat_image_tokens(client: OpenAI, model: str, parts: list[dict[str, Any]]) -> int:
    """``prompt_tokens_details.image_tokens`` of a one-token chat completion about ``parts``."""
    completion = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": [*parts, {"type": "text", "text": "What is this?"}]}],  # type: ignore[list-item,misc]
        max_tokens=1,
        temperature=0,
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    return int(completion.usage.prompt_tokens_details.image_tokens or 0)


def responses_image_tokens(response: Any) -> int:
    """``input_tokens_details.image_tokens`` of a Responses object (an extra field of the openai type)."""
    return int((response.usage.input_tokens_details.model_extra or {})["image_tokens"])


def check_image_tokens_endpoint(
    server: ServerProcess, model: str, urls: dict[tuple[int, int], str], view_size: int
) -> None:
    """``/v1/image-tokens`` counts the sweep like the oracle and reports the family's view size."""
    body = {"model": model, "images": [{"image_url": urls[s], "detail": d} for s in SIZES for d in DETAILS]}
    response = httpx.post(
        f"{server.base_url}/v1/image-tokens", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=60
    )
    assert response.status_code == 200, response.text
    counts = response.json()["images"]
    assert [c["image_tokens"] for c in counts] == [expected_image_tokens(*s, d) for s in SIZES for d in DETAILS]
    assert {c["tile_size"] for c in counts} == {view_size}


def check_chat_usage(client: OpenAI, model: str, urls: dict[tuple[int, int], str], detail: str) -> None:
    """Chat completions' image tokens for every size at ``detail``."""
    got = [chat_image_tokens(client, model, [image_part(urls[size], detail)]) for size in SIZES]
    assert got == [expected_image_tokens(*size, detail) for size in SIZES]


def check_grpc_mixed_details(server: ServerProcess, model: str, urls: dict[tuple[int, int], str]) -> None:
    """xai-sdk: four images of different details in one request, counted per image."""
    parts = [(SIZES[0], "high"), (SIZES[3], "auto"), (SIZES[4], "low"), (SIZES[5], "high")]
    with Client(api_key=KEY, api_host=f"localhost:{server.grpc_port}", timeout=300) as client:
        chat = client.chat.create(model=model, max_tokens=1, temperature=0)
        chat.append(xai_user("Compare them.", *(xai_image(urls[s], detail=d) for s, d in parts)))  # type: ignore[arg-type]
        response = chat.sample()
    assert response.usage.prompt_image_tokens == sum(expected_image_tokens(*s, d) for s, d in parts)


def check_eight_concurrent(client: OpenAI, model: str, urls: dict[tuple[int, int], str]) -> None:
    """Eight concurrent requests of different sizes and details (``low`` ones with the image twice)."""
    cases = [(SIZES[i % len(SIZES)], DETAILS[i % 3]) for i in range(8)]

    def ask(case: tuple[tuple[int, int], str]) -> int:
        size, detail = case
        part = image_part(urls[size], detail)
        return chat_image_tokens(client, model, [part, part] if detail == "low" else [part])

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ask, cases))
    assert got == [expected_image_tokens(*s, d) * (2 if d == "low" else 1) for s, d in cases]


def check_stored_continuation(client: OpenAI, model: str, urls: dict[tuple[int, int], str]) -> tuple[Any, Any]:
    """A Responses turn with a ``high`` image, then its stored continuation: both count the image; returned."""
    content = [
        {"type": "input_image", "image_url": urls[(896, 448)], "detail": "high"},
        {"type": "input_text", "text": "Remember this picture."},
    ]
    first = client.responses.create(model=model, input=[{"role": "user", "content": content}], max_output_tokens=2)  # type: ignore[list-item,misc]
    again = client.responses.create(
        model=model, previous_response_id=first.id, input="What was in it?", max_output_tokens=2
    )
    expected = expected_image_tokens(896, 448, "high")
    assert responses_image_tokens(first) == responses_image_tokens(again) == expected
    assert again.usage is not None and first.usage is not None
    assert again.usage.input_tokens > first.usage.input_tokens
    return first, again
