"""The vLLM engine end to end: a real ``oculi serve --engine vllm`` on the tiny InternVL (text head size 32).

One server for the whole module (vLLM takes tens of seconds to start on CPU),
reached with the official clients: openai (chat, Responses, streaming) and
xai-sdk (gRPC). Checked: SPEC §3 usage for 12 sizes × 3 details and a
mixed-detail request (the counts come from the prompt vLLM actually fed the
model), a stored conversation continued with its image, seed determinism
alone vs. 8 concurrent, ``n``, ``stop``, the context-length 400, a disconnect
aborting the vLLM request, structured outputs and required tool calls decoded
under vLLM's ``guidance`` backend (chat ``parse``, Responses ``text.format``,
a mixed concurrent batch, an unsupported schema keyword as a 400), tensor
parallel 2, and — last, since it ends the engine — a dead engine turning into 503s.

An unknown ``--vllm-arg`` is refused in-process (``tests/unit/engines/vllm``).
Skipped only when vLLM is not installed and ``CI`` is unset (CI installs it:
``OCULI_VLLM=cpu ./scripts/install.sh``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import KEY, data_url, image_bytes
from openai import BadRequestError, OpenAI
from servers import VLLM_ENV, Servers, family
from spec_oracle import expected_image_tokens
from structured_models import WEATHER_TOOL, Receipt, Weather

from oculi.testing.checkpoints import cached_checkpoint
from oculi.testing.server import ServerProcess, running_server

if importlib.util.find_spec("vllm") is None and not os.environ.get("CI"):
    pytest.skip("vLLM is not installed (OCULI_VLLM=cpu ./scripts/install.sh installs it)", allow_module_level=True)

# The module's server start (vLLM: ~30 s on a quiet 2-core machine, minutes on a busy one) counts toward
# the first test's timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CONTEXT = 4096
SIZES = [
    (448, 448), (300, 200), (1, 1), (449, 448), (900, 600), (1600, 1200),
    (600, 900), (300, 900), (2000, 400), (400, 2000), (1024, 1024), (1920, 1080),
]  # fmt: skip
ENGINE = {**VLLM_ENV, "OCULI_VLLM_MAX_MODEL_LEN": str(CONTEXT), "OCULI_MAX_BATCH_SIZE": "16"}


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    return cached_checkpoint("tiny-internvl-vllm")


@pytest.fixture(scope="module")
def server(servers: Servers, checkpoint: Path) -> Iterator[ServerProcess]:
    # Not shared beyond this module: its last test ends the engine (a dead engine turns into 503s).
    with servers.lease(family(checkpoint, ENGINE)) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=server.v1, api_key=KEY, max_retries=0, timeout=300)


def image_part(width: int, height: int, detail: str = "auto", seed: int = 0) -> dict:
    url = data_url(image_bytes(width, height, "PNG", seed), "image/png")
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


def chat(client: OpenAI, content: list | str, **extra: object) -> Any:
    return client.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": content}], **{"max_tokens": 1, **extra}
    )


def test_spec_usage_for_12_sizes_and_3_details(client: OpenAI) -> None:
    cases = [(size, detail) for size in SIZES for detail in ("low", "high", "auto")]

    def run(case: tuple[tuple[int, int], str]) -> tuple[int, int]:
        (w, h), detail = case
        usage = chat(client, [image_part(w, h, detail), {"type": "text", "text": "What is it?"}]).usage
        assert usage is not None and usage.prompt_tokens_details is not None
        return usage.prompt_tokens_details.image_tokens, usage.prompt_tokens  # type: ignore[attr-defined]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, cases))
    got = [r[0] for r in results]
    assert got == [expected_image_tokens(w, h, d) for (w, h), d in cases]
    # The thumbnail on a 1×1 grid at high: 2 views, where vLLM's own processor would feed one.
    assert got[cases.index(((448, 448), "high"))] == 512
    # Text tokens are the same for every request (same template and question).
    assert len({prompt - image for image, prompt in results}) == 1


def test_mixed_details_in_one_request_with_responses(client: OpenAI) -> None:
    parts = [
        {"type": "input_image", "image_url": image_part(900, 600)["image_url"]["url"], "detail": "low"},
        {"type": "input_image", "image_url": image_part(900, 600, seed=1)["image_url"]["url"], "detail": "high"},
        {"type": "input_image", "image_url": image_part(448, 448, seed=2)["image_url"]["url"], "detail": "high"},
        {"type": "input_text", "text": "Compare them."},
    ]
    messages: Any = [{"role": "user", "content": parts}]
    response = client.responses.create(model="grok-4", input=messages, max_output_tokens=2)
    expected = 256 + expected_image_tokens(900, 600, "high") + 512
    assert response.usage is not None
    assert response.usage.input_tokens_details.image_tokens == expected  # type: ignore[attr-defined]


def test_streams_report_usage_on_chat_and_responses(client: OpenAI) -> None:
    content = [image_part(900, 600, "high"), {"type": "text", "text": "Describe."}]
    chunks = list(
        client.chat.completions.create(
            model="grok-4",
            messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
            max_tokens=6,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens_details.image_tokens == 1792  # type: ignore[union-attr,attr-defined]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    unary = chat(client, content, max_tokens=6, temperature=0)
    assert text == unary.choices[0].message.content
    events = list(
        client.responses.create(
            model="grok-4",
            input=[{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
            max_output_tokens=4,
            stream=True,
        )
    )
    final = events[-1]
    assert final.type == "response.incomplete"  # max_output_tokens reached
    assert final.response.usage is not None and final.response.usage.output_tokens == 4  # type: ignore[union-attr]
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert deltas == final.response.output_text  # type: ignore[union-attr]


def test_stored_conversation_continues_with_its_image(client: OpenAI) -> None:
    url = image_part(1600, 1200, seed=5)["image_url"]["url"]
    image_input = {"type": "input_image", "image_url": url, "detail": "high"}
    first = client.responses.create(
        model="grok-4",
        input=[{"role": "user", "content": [image_input, {"type": "input_text", "text": "What is it?"}]}],  # type: ignore[misc,list-item]
        max_output_tokens=3,
        temperature=0,
    )
    second = client.responses.create(
        model="grok-4", previous_response_id=first.id, input="And its colour?", max_output_tokens=3, temperature=0
    )
    assert first.usage is not None and second.usage is not None
    assert second.usage.input_tokens_details.image_tokens == 1792  # type: ignore[attr-defined]
    assert second.usage.input_tokens > first.usage.input_tokens
    # The same content hash → vLLM's prefix cache holds the first turn (image included).
    assert second.usage.input_tokens_details.cached_tokens >= 1792


def test_xai_sdk_sample_and_stream(server: ServerProcess) -> None:
    from xai_sdk import Client
    from xai_sdk.chat import image, user

    xai = Client(api_key=KEY, api_host=server.grpc_address)
    url = image_part(900, 600)["image_url"]["url"]
    chat_ = xai.chat.create(model="grok-4", max_tokens=4, temperature=0)
    chat_.append(user("What's in this image?", image(image_url=url, detail="high")))
    response = chat_.sample()
    assert response.usage.prompt_image_tokens == 1792
    streamed = [accumulated.content for accumulated, _chunk in chat_.stream()]
    assert streamed and streamed[-1] == response.content
    xai.close()


def test_seed_alone_equals_seed_among_8_concurrent(client: OpenAI) -> None:
    def sample(seed: int) -> str:
        completion = chat(client, "Tell me something.", max_tokens=12, temperature=1.0, seed=seed)
        return completion.choices[0].message.content or ""

    alone = sample(7)
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(sample, [7, 8, 7, 9, 7, 10, 7, 11]))
    assert [together[i] for i in (0, 2, 4, 6)] == [alone] * 4
    assert len(set(together)) > 1  # different seeds sample differently


def test_n_choices_and_stop(client: OpenAI) -> None:
    completion = chat(client, "Say something.", max_tokens=8, temperature=1.0, n=3, seed=3)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert completion.usage is not None
    assert 3 <= completion.usage.completion_tokens <= 3 * 8
    assert len({c.message.content for c in completion.choices}) > 1
    greedy = chat(client, "Say something.", max_tokens=12, temperature=0).choices[0].message.content or ""
    assert len(greedy) > 4
    stop = greedy[2:5]
    stopped = chat(client, "Say something.", max_tokens=12, temperature=0, stop=[stop]).choices[0]
    assert stopped.finish_reason == "stop"
    assert stopped.message.content == greedy[: greedy.index(stop)]


def test_prompt_over_the_context_is_400_naming_both_numbers(client: OpenAI) -> None:
    images = [image_part(900, 600, "high", seed=i) for i in range(3)]  # 3 × 1792 > 4096
    with pytest.raises(BadRequestError) as info:
        chat(client, [*images, {"type": "text", "text": "All three?"}])
    message = info.value.response.json()["error"]
    needed = re.search(r"needs (\d+) prompt tokens", message)
    assert needed is not None and int(needed[1]) > 3 * 1792, message  # the image tokens + text
    assert f"context length is {CONTEXT} tokens" in message


def test_disconnect_aborts_the_vllm_request(server: ServerProcess, client: OpenAI) -> None:
    body = {
        "model": "grok-4",
        "messages": [{"role": "user", "content": "Tell me a long story."}],
        "max_tokens": 3000,
        "stream": True,
    }
    headers = {"authorization": f"Bearer {KEY}"}
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", server.v1 + "/chat/completions", json=body, headers=headers) as r,
    ):
        lines = r.iter_lines()
        next(lines)
        next(lines)
    deadline = time.monotonic() + 20
    while "aborted in vLLM" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "aborted in vLLM" in server.log_text()
    started = time.monotonic()
    assert chat(client, "Hello", max_tokens=2).usage is not None
    assert time.monotonic() - started < 30


def _user(text: str, seed: int = 0) -> dict:
    return {"role": "user", "content": [image_part(320, 240, seed=seed), {"type": "text", "text": text}]}


def test_parse_with_pydantic_model_and_an_image(client: OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="grok-4", messages=[_user("Read this receipt.")], response_format=Receipt, max_tokens=200, seed=1
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(message.parsed, Receipt)
    assert Receipt.model_validate_json(message.content or "") == message.parsed
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.image_tokens == expected_image_tokens(320, 240, "auto")  # type: ignore[attr-defined]


@pytest.mark.parametrize("stream", [False, True])
def test_required_tool_call_arguments_validate(client: OpenAI, stream: bool) -> None:
    messages = [_user("What's the weather where this photo was taken?", seed=5)]
    kwargs: dict[str, Any] = {"model": "grok-4", "tools": [WEATHER_TOOL], "tool_choice": "required", "max_tokens": 120}
    if stream:
        name, arguments, finish = "", "", None
        for chunk in client.chat.completions.create(messages=messages, stream=True, seed=7, **kwargs):
            for choice in chunk.choices:
                for piece in choice.delta.tool_calls or []:
                    name += (piece.function.name or "") if piece.function else ""
                    arguments += (piece.function.arguments or "") if piece.function else ""
                finish = choice.finish_reason or finish
    else:
        choice = client.chat.completions.create(messages=messages, seed=7, **kwargs).choices[0]
        finish = choice.finish_reason
        (call,) = choice.message.tool_calls or []
        name, arguments = call.function.name, call.function.arguments  # type: ignore[union-attr]
    assert (finish, name) == ("tool_calls", "get_weather")
    Weather.model_validate_json(arguments)


def test_responses_text_format_json_schema(client: OpenAI) -> None:
    image = data_url(image_bytes(320, 240, "PNG", 2), "image/png")
    content = [{"type": "input_image", "image_url": image}, {"type": "input_text", "text": "Read this receipt."}]
    response = client.responses.create(
        model="grok-4",
        input=[{"role": "user", "content": content}],  # type: ignore[list-item,misc]
        text={
            "format": {"type": "json_schema", "name": "receipt", "schema": Receipt.model_json_schema(), "strict": True}
        },
        max_output_tokens=200,
    )
    assert response.status == "completed"
    Receipt.model_validate_json(response.output_text)


def test_concurrent_batch_mixing_schema_free_text_and_tools(client: OpenAI) -> None:
    """vLLM batches sequences with and without grammars together; each comes back as it asked."""

    def one(i: int) -> None:
        messages = [_user("Describe.", seed=i)]
        if i % 3 == 0:
            parsed = client.chat.completions.parse(
                model="grok-4", messages=messages, response_format=Receipt, max_tokens=200, seed=i
            )
            assert isinstance(parsed.choices[0].message.parsed, Receipt)
        elif i % 3 == 1:
            choice = client.chat.completions.create(
                model="grok-4", messages=messages, tools=[WEATHER_TOOL], tool_choice="required", max_tokens=120, seed=i
            ).choices[0]
            (call,) = choice.message.tool_calls or []
            Weather.model_validate_json(call.function.arguments)  # type: ignore[union-attr]
        else:
            text = client.chat.completions.create(model="grok-4", messages=messages, max_tokens=8, seed=i)
            assert text.choices[0].finish_reason in ("stop", "length")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(one, range(6)))


def test_unsupported_schema_keyword_is_a_400_naming_it(client: OpenAI) -> None:
    schema = {"type": "object", "if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}}
    with pytest.raises(BadRequestError) as caught:
        client.chat.completions.create(
            model="grok-4",
            messages=[_user("Hi")],  # type: ignore[list-item]
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
    body = caught.value.response.json()
    assert body["code"] == "unsupported_schema" and '"if"' in body["error"]


def test_tensor_parallel_2_on_cpu_answers_like_one_worker(checkpoint: Path, client: OpenAI) -> None:
    """Two vLLM workers (tensor parallel 2), one core each: vLLM's automatic binding wants a NUMA node per
    worker, so the cores are given by hand (``VLLM_CPU_OMP_THREADS_BIND``) and none reserved."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("tensor parallel 2 needs two CPU cores")
    content = [image_part(900, 600, "high", seed=9), {"type": "text", "text": "Describe."}]
    one_worker = chat(client, content, max_tokens=8, temperature=0)
    env = {
        **VLLM_ENV,
        "OCULI_VLLM_TENSOR_PARALLEL_SIZE": "2",
        "VLLM_CPU_OMP_THREADS_BIND": f"{cpus[0]}|{cpus[1]}",
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    }
    with running_server(models=[str(checkpoint)], api_keys=[KEY], env=env, grpc=False, startup_timeout=600) as tp2:
        two = OpenAI(base_url=tp2.v1, api_key=KEY, max_retries=0, timeout=300)
        two_workers = chat(two, content, max_tokens=8, temperature=0)
        assert "world_size=2" in tp2.log_text()
    assert two_workers.usage is not None and two_workers.usage.prompt_tokens_details is not None
    assert two_workers.usage.prompt_tokens_details.image_tokens == 1792  # type: ignore[attr-defined]
    assert two_workers.choices[0].message.content == one_worker.choices[0].message.content


def test_dead_engine_is_503_and_health_says_so(server: ServerProcess, client: OpenAI) -> None:
    import psutil

    cores = [p for p in psutil.Process(server.pid).children(recursive=True) if "EngineCore" in " ".join(p.cmdline())]
    cores = cores or [p for p in psutil.Process(server.pid).children(recursive=False)]
    assert cores
    for process in cores:
        process.kill()
    deadline = time.monotonic() + 30
    auth = {"authorization": f"Bearer {KEY}"}
    health = httpx.get(server.base_url + "/health", headers=auth)
    while health.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        health = httpx.get(server.base_url + "/health", headers=auth)
    assert health.status_code == 503
    assert "vLLM" in str(health.json()["problems"])
    # An anonymous caller learns only that the server is not ok.
    anonymous = httpx.get(server.base_url + "/health")
    assert (anonymous.status_code, anonymous.json()) == (503, {"status": "unavailable"})
    started = time.monotonic()
    response = httpx.post(
        server.v1 + "/chat/completions",
        json={"model": "grok-4", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert response.status_code == 503
    assert "restart the server" in response.json()["error"]
    assert time.monotonic() - started < 10
