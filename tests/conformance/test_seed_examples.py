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
from concurrent.futures import Future
from pathlib import Path

import pytest
from conformance_harness import (
    ExampleRun,
    ExampleRunner,
    node_missing_reason,
)
from conformance_images import Images, make_noise_png
from seed_cases import CASES, Case, case_param, judge, run_options


@pytest.fixture(scope="module")
def case_runs(examples: ExampleRunner, images: Images) -> dict[str, Future[ExampleRun]]:
    """Every case started at once, a few at a time; each test then judges its own run."""
    runnable = {n: c for n, c in CASES.items() if not (c.node and node_missing_reason())}
    return {name: examples.submit(case.example, **run_options(case, images)) for name, case in runnable.items()}


@pytest.mark.parametrize("case", [case_param(n, c) for n, c in CASES.items()])
def test_seed_example(
    case: Case, request: pytest.FixtureRequest, case_runs: dict[str, Future[ExampleRun]], images: Images
) -> None:
    """The example exits 0, answers, and reports SPEC §3 image tokens."""
    name = request.node.callspec.id
    examples: ExampleRunner = request.getfixturevalue("examples")
    judge(case, case_runs[name].result(), images, lambda: examples.run(case.example, **run_options(case, images)))


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
