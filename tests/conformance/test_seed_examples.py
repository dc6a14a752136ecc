"""Every code example of the two seed documents, run as written by its official client against ``oculi serve``.

Each case runs one file of ``examples/`` (the document's text; only base URL /
api_host, key and image URL/path come from the environment) and checks: exit
status 0, a non-empty answer, and the image tokens the client reports equal
SPEC §3 for the images sent. ``detail`` variants are copies with ``"high"``
replaced by ``"low"``; streaming, deferred and continued-conversation variants
are their own files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conformance_harness import (
    IMAGE_TOKENS_MARK,
    ExampleRun,
    ExampleRunner,
    node_missing_reason,
    program_marks,
)
from conformance_images import Images, make_noise_png

ANSWER_MARK = "OCULI_ANSWER_CHARS="


@dataclass(frozen=True)
class Case:
    """One example run: which file, what to append or change, and the image tokens SPEC §3 predicts."""

    example: str
    expected_tokens: Callable[[Images], int]
    tokens: str | None = None  # expression printed by an appended probe; None: the example prints it (last line)
    answer: str | None = None  # expression of the answer text, printed (its length) by an appended probe
    replace: dict[str, str] = field(default_factory=dict)
    files: Callable[[Images], dict[str, Path]] | None = None
    preload: str | None = None
    first_line_tokens: bool = False  # the seed's `print(next(stream).usage...)` prints it first

    @property
    def node(self) -> bool:
        """Whether an npm client runs this case."""
        return self.example.endswith(".mjs")

    def probe(self) -> str | None:
        """The lines appended to the copy that print the answer's length and the image tokens."""
        lines = []
        if self.example.endswith(".py"):
            if self.answer:
                lines.append(f'print("{ANSWER_MARK}" + str(len(({self.answer}).strip())))')
            if self.tokens:
                lines.append(f'print("{IMAGE_TOKENS_MARK}" + str({self.tokens}))')
        elif self.node:
            if self.answer:
                lines.append(f'console.log("{ANSWER_MARK}" + ({self.answer}).trim().length);')
            if self.tokens:
                lines.append(f'console.log("{IMAGE_TOKENS_MARK}" + ({self.tokens}));')
        return "\n".join(lines) or None


PY_HIGH = {'detail="high"': 'detail="low"'}
JSON_HIGH = {'"detail": "high"': '"detail": "low"'}
JS_HIGH = {'detail: "high"': 'detail: "low"'}

CASES: dict[str, Case] = {
    # --- seed 000: Image Understanding (chat completions / gRPC chat) ---------------------------
    "xai-sdk/url/high": Case(
        "xai_sdk_image_url.py",
        lambda i: i.nasa.tokens("high"),
        tokens="response.usage.prompt_image_tokens",
        answer="response.content",
    ),
    "xai-sdk/url/low": Case(
        "xai_sdk_image_url.py",
        lambda i: i.nasa.tokens("low"),
        tokens="response.usage.prompt_image_tokens",
        answer="response.content",
        replace=PY_HIGH,
    ),
    "openai-py/chat/url/high": Case(
        "openai_chat_image_url.py",
        lambda i: i.nasa.tokens("high"),
        tokens="completion.usage.prompt_tokens_details.image_tokens",
        answer="completion.choices[0].message.content",
    ),
    "openai-py/chat/url/low": Case(
        "openai_chat_image_url.py",
        lambda i: i.nasa.tokens("low"),
        tokens="completion.usage.prompt_tokens_details.image_tokens",
        answer="completion.choices[0].message.content",
        replace=JSON_HIGH,
    ),
    "openai-js/chat/url/high": Case(
        "openai_chat_image_url.mjs",
        lambda i: i.nasa.tokens("high"),
        tokens="completion.usage.prompt_tokens_details.image_tokens",
        answer="completion.choices[0].message.content",
    ),
    "openai-js/chat/url/low": Case(
        "openai_chat_image_url.mjs",
        lambda i: i.nasa.tokens("low"),
        tokens="completion.usage.prompt_tokens_details.image_tokens",
        answer="completion.choices[0].message.content",
        replace=JS_HIGH,
    ),
    "ai-sdk/url/string-model": Case(
        "ai_sdk_image_url.mjs",
        lambda i: i.nasa.tokens("auto"),
        tokens="result.usage.raw.input_tokens_details.image_tokens",
        answer="result.text",
        preload="ai_sdk_default_provider.mjs",
    ),
    "xai-sdk/base64/high": Case(
        "xai_sdk_base64.py",
        lambda i: i.photo.tokens("high"),
        tokens="response.usage.prompt_image_tokens",
        answer="response.content",
    ),
    "xai-sdk/base64/low": Case(
        "xai_sdk_base64.py",
        lambda i: i.photo.tokens("low"),
        tokens="response.usage.prompt_image_tokens",
        answer="response.content",
        replace=PY_HIGH,
    ),
    "openai-py/chat/base64/high": Case(
        "openai_chat_base64.py",
        lambda i: i.photo.tokens("high"),
        tokens="completion.usage.prompt_tokens_details.image_tokens",
        answer="completion.choices[0].message.content",
    ),
    "openai-js/chat/base64/high": Case(
        "openai_chat_base64.mjs",
        lambda i: i.photo.tokens("high"),
        tokens="completion.usage.prompt_tokens_details.image_tokens",
        answer="completion.choices[0].message.content",
    ),
    "ai-sdk/base64/file": Case(
        "ai_sdk_base64.mjs",
        lambda i: i.comic_cat.tokens("auto"),
        tokens="result.usage.raw.input_tokens_details.image_tokens",
        answer="result.text",
        files=lambda i: {"data/comic-cat.png": i.comic_cat.path},
    ),
    "xai-sdk/multiple/high": Case(
        "xai_sdk_multiple_images.py",
        lambda i: i.first.tokens("high") + i.second.tokens("high"),
        answer="response.content",
    ),
    "xai-sdk/multiple/low": Case(
        "xai_sdk_multiple_images.py",
        lambda i: i.first.tokens("low") + i.second.tokens("low"),
        answer="response.content",
        replace=PY_HIGH,
    ),
    "openai-py/chat/multiple/high": Case(
        "openai_chat_multiple_images.py",
        lambda i: i.first.tokens("high") + i.second.tokens("high"),
        answer="completion.choices[0].message.content",
    ),
    "openai-js/chat/multiple/high": Case(
        "openai_chat_multiple_images.mjs",
        lambda i: i.first.tokens("high") + i.second.tokens("high"),
        answer="completion.choices[0].message.content",
    ),
    "ai-sdk/multiple/auto": Case(
        "ai_sdk_multiple_images.mjs",
        lambda i: i.first.tokens("auto") + i.second.tokens("auto"),
        tokens="result.usage.raw.input_tokens_details.image_tokens",
        answer="result.text",
    ),
    # --- seed 003: Image Understanding (Responses API) ------------------------------------------
    "xai-sdk/responses": Case(
        "xai_sdk_responses.py",
        lambda i: i.nasa.tokens("high"),
        tokens="response.usage.prompt_image_tokens",
        answer="response.content",
    ),
    "openai-py/responses": Case(
        "openai_responses.py",
        lambda i: i.nasa.tokens("high"),
        tokens="response.usage.input_tokens_details.image_tokens",
        answer="response.output_text",
    ),
    "openai-js/responses": Case(
        "openai_responses.mjs",
        lambda i: i.nasa.tokens("high"),
        tokens="response.usage.input_tokens_details.image_tokens",
        answer="response.output_text",
    ),
    "ai-sdk/responses": Case(
        "ai_sdk_responses.mjs",
        lambda i: i.nasa.tokens("auto"),
        tokens="usage.raw.input_tokens_details.image_tokens",
        answer="text",
        # The example destructures only { text, response }; the copy also takes `usage`.
        replace={"const { text, response }": "const { text, response, usage }"},
    ),
    # --- streaming, deferred, continued conversations ---------------------------------------------
    "xai-sdk/stream": Case("xai_sdk_stream.py", lambda i: i.nasa.tokens("high"), answer="response.content"),
    "xai-sdk/defer": Case("xai_sdk_defer.py", lambda i: i.nasa.tokens("high"), answer="response.content"),
    "xai-sdk/continue": Case("xai_sdk_continue.py", lambda i: i.nasa.tokens("high"), answer="second.content"),
    "openai-py/chat/stream/first-chunk-usage": Case(
        "openai_chat_stream.py", lambda i: i.nasa.tokens("high"), answer="answer", first_line_tokens=True
    ),
    "openai-py/chat/stream/include-usage": Case(
        "openai_chat_stream_usage.py", lambda i: i.nasa.tokens("high"), answer="answer"
    ),
    "openai-py/responses/stream": Case("openai_responses_stream.py", lambda i: i.nasa.tokens("high"), answer="answer"),
    "openai-py/responses/continue": Case(
        "openai_responses_continue.py", lambda i: i.nasa.tokens("high"), answer="second.output_text"
    ),
    "openai-js/chat/stream": Case("openai_chat_stream.mjs", lambda i: i.nasa.tokens("high"), answer="answer"),
    "openai-js/responses/stream": Case("openai_responses_stream.mjs", lambda i: i.nasa.tokens("high"), answer="answer"),
    "ai-sdk/responses/stream": Case("ai_sdk_stream.mjs", lambda i: i.nasa.tokens("auto"), answer="answer"),
    "ai-sdk/responses/continue": Case("ai_sdk_continue.mjs", lambda i: i.nasa.tokens("auto"), answer="second.text"),
}


def _marked(run: ExampleRun, mark: str) -> str:
    for line in reversed(run.stdout.splitlines()):
        if line.startswith(mark):
            return line[len(mark) :]
    raise AssertionError(f"the run printed no {mark} line\n{run.explain()}")


def _case_param(name: str, case: Case) -> Any:
    return pytest.param(case, id=name, marks=program_marks(case.example))


def _run_options(case: Case, images: Images) -> dict[str, Any]:
    return {
        "replace": case.replace,
        "probe": case.probe(),
        "files": case.files(images) if case.files else None,
        "preload": case.preload,
    }


@pytest.fixture(scope="module")
def case_runs(examples: ExampleRunner, images: Images) -> dict[str, Future[ExampleRun]]:
    """Every case started at once, a few at a time; each test then judges its own run."""
    runnable = {n: c for n, c in CASES.items() if not (c.node and node_missing_reason())}
    return {name: examples.submit(case.example, **_run_options(case, images)) for name, case in runnable.items()}


@pytest.mark.parametrize("case", [_case_param(n, c) for n, c in CASES.items()])
def test_seed_example(
    case: Case, request: pytest.FixtureRequest, case_runs: dict[str, Future[ExampleRun]], images: Images
) -> None:
    """The example exits 0, answers, and reports SPEC §3 image tokens."""
    name = request.node.callspec.id
    run = case_runs[name].result()
    assert run.returncode == 0, run.explain()
    if case.answer is not None and int(_marked(run, ANSWER_MARK)) == 0:
        # The random-weight test model samples its end token first about once in 600
        # requests: an empty answer is chance, not the wire, so it gets one more try.
        run = request.getfixturevalue("examples").run(case.example, **_run_options(case, images))
        assert run.returncode == 0, run.explain()
        assert int(_marked(run, ANSWER_MARK)) > 0, f"empty answer twice\n{run.explain()}"
    if case.tokens is not None:
        reported = int(_marked(run, IMAGE_TOKENS_MARK))
    else:
        printed = [line for line in run.stdout.strip().splitlines() if not line.startswith(ANSWER_MARK)]
        reported = int(printed[0] if case.first_line_tokens else printed[-1])
    assert reported == case.expected_tokens(images), run.explain()


def test_curl_responses(examples: ExampleRunner, images: Images) -> None:
    """The seed's curl command gets a Response object with text and SPEC §3 image tokens."""
    for _ in range(2):  # one more try for the random model's rare empty answer (see test_seed_example)
        run = examples.run("curl_responses.sh")
        assert run.returncode == 0, run.explain()
        body = json.loads(run.stdout)
        assert body["object"] == "response", run.explain()
        # "incomplete" when the random model never samples its end token before the length cap.
        assert body["status"] in ("completed", "incomplete"), run.explain()
        message = next(item for item in body["output"] if item["type"] == "message")
        text = "".join(part["text"] for part in message["content"] if part["type"] == "output_text")
        if text.strip():
            break
    assert text.strip(), run.explain()
    assert body["usage"]["input_tokens_details"]["image_tokens"] == images.nasa.tokens("high")
    assert body["usage"]["input_tokens"] >= images.nasa.tokens("high")


def test_the_image_url_is_fetched_by_the_server(examples: ExampleRunner, images: Images) -> None:
    """The URL examples really make oculi download the picture (a query string marks this run's request)."""
    url = images.nasa_url + "?run=fetch-check"
    run = examples.run("openai_chat_image_url.py", env={"OCULI_IMAGE_URL": url})
    assert run.returncode == 0, run.explain()
    assert url.removeprefix(images.server.base_url) in images.server.requests


def test_xai_sdk_image_just_under_the_limit_as_base64(examples: ExampleRunner, tmp_path: Path) -> None:
    """A 19 MiB PNG is within SPEC §2's 20 MiB, so it must be accepted when sent as base64 over gRPC."""
    big = make_noise_png(tmp_path / "big.png", 19 * 1024 * 1024)
    run = examples.run("xai_sdk_large_base64.py", env={"OCULI_IMAGE_PATH": str(big.path)})
    assert run.returncode == 0, run.explain()
    assert int(run.stdout.strip().splitlines()[-1]) == big.tokens("low")
