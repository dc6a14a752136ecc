"""The seed documents' example runs as data: which file, what the copy changes, the image tokens SPEC §3 predicts.

``CASES`` is read by ``test_seed_examples`` (the pinned clients) and ``test_newest_clients``
(the newest releases on the registry); ``judge`` is the one verdict both apply to a run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conformance_harness import IMAGE_TOKENS_MARK, ExampleRun, program_marks
from conformance_images import Images

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


def marked(run: ExampleRun, mark: str) -> str:
    for line in reversed(run.stdout.splitlines()):
        if line.startswith(mark):
            return line[len(mark) :]
    raise AssertionError(f"the run printed no {mark} line\n{run.explain()}")


def case_param(name: str, case: Case) -> Any:
    return pytest.param(case, id=name, marks=program_marks(case.example))


def run_options(case: Case, images: Images) -> dict[str, Any]:
    return {
        "replace": case.replace,
        "probe": case.probe(),
        "files": case.files(images) if case.files else None,
        "preload": case.preload,
    }


def judge(case: Case, run: ExampleRun, images: Images, rerun: Callable[[], ExampleRun]) -> None:
    """The example exits 0, answers, and reports SPEC §3 image tokens (``rerun``: one more try, see below)."""
    assert run.returncode == 0, run.explain()
    if case.answer is not None and int(marked(run, ANSWER_MARK)) == 0:
        # The random-weight test model samples its end token first about once in 600
        # requests: an empty answer is chance, not the wire, so it gets one more try.
        run = rerun()
        assert run.returncode == 0, run.explain()
        assert int(marked(run, ANSWER_MARK)) > 0, f"empty answer twice\n{run.explain()}"
    if case.tokens is not None:
        reported = int(marked(run, IMAGE_TOKENS_MARK))
    else:
        printed = [line for line in run.stdout.strip().splitlines() if not line.startswith(ANSWER_MARK)]
        reported = int(printed[0] if case.first_line_tokens else printed[-1])
    assert reported == case.expected_tokens(images), run.explain()
