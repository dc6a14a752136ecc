"""The rest of what SPEC §1 promises the official clients (not in the seeds): models, tokenizer, key info."""

from __future__ import annotations

import re
from typing import Any

from conformance_harness import API_KEY, ExampleRunner, program_marks


def _line(stdout: str, prefix: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(prefix))


def test_xai_sdk_models_tokenizer_and_key(examples: ExampleRunner) -> None:
    """ListLanguageModels / GetLanguageModel (grok-* alias) / TokenizeText / get_api_key_info over gRPC."""
    run = examples.run("xai_sdk_client_surface.py")
    assert run.returncode == 0, run.explain()
    assert "tiny-internvl" in _line(run.stdout, "models:"), run.explain()
    alias = _line(run.stdout, "grok-4 ->")
    assert "tiny-internvl" in alias, run.explain()
    assert "[1, 2]" in alias, f"input_modalities should be TEXT and IMAGE\n{run.explain()}"
    tokens = _line(run.stdout, "tokens:")
    assert tokens.endswith("What's in this image?"), f"token strings must join to the text\n{run.explain()}"
    redacted = _line(run.stdout, "key redacted:").split(": ", 1)[1]
    assert redacted and redacted != API_KEY, run.explain()


def test_openai_models_and_tokenizer_agree_with_grpc(examples: ExampleRunner) -> None:
    """GET /v1/models, /v1/models/grok-4 and /v1/tokenize-text through openai-python match the gRPC answers."""
    http = examples.run("openai_client_surface.py")
    grpc = examples.run("xai_sdk_client_surface.py")
    assert http.returncode == 0, http.explain()
    assert grpc.returncode == 0, grpc.explain()
    assert _line(http.stdout, "models:") == _line(grpc.stdout, "models:")
    assert "tiny-internvl" in _line(http.stdout, "grok-4 ->"), http.explain()
    count = re.compile(r"tokens: (\d+)")
    http_count = count.match(_line(http.stdout, "tokens:"))
    grpc_count = count.match(_line(grpc.stdout, "tokens:"))
    assert http_count and grpc_count
    assert int(http_count.group(1)) == int(grpc_count.group(1)) > 0


def needs_node(test: Any) -> Any:
    """The marks of a test that runs a node example."""
    for mark in program_marks(".mjs"):
        test = mark(test)
    return test


@needs_node
def test_ai_sdk_sees_a_max_tokens_cutoff(examples: ExampleRunner) -> None:
    """A response cut at ``max_output_tokens`` is ``status: "incomplete"`` with exactly that many tokens."""
    run = examples.run("ai_sdk_max_tokens.mjs")
    assert run.returncode == 0, run.explain()
    if _line(run.stdout, "generateText").split()[1] == "stop":
        # The random-weight test model samples its end token within 3 tokens now and then (as in
        # test_seed_examples): a stop before the cap is chance, not the wire, so it gets one more try.
        run = examples.run("ai_sdk_max_tokens.mjs")
        assert run.returncode == 0, run.explain()
    assert _line(run.stdout, "generateText").split()[2:] == ["incomplete", "3"], run.explain()


@needs_node
def test_ai_sdk_stream_reports_length(examples: ExampleRunner) -> None:
    """``streamText`` reports finishReason ``length`` when the server says why it stopped."""
    run = examples.run("ai_sdk_max_tokens.mjs")
    assert run.returncode == 0, run.explain()
    assert _line(run.stdout, "streamText").split()[1:3] == ["length", "max_output_tokens"], run.explain()
