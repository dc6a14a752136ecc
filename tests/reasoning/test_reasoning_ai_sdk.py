"""The Vercel AI SDK (``@ai-sdk/xai``, run by node) reads a thinking model's reasoning, streamed and whole."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from openai import OpenAI
from reasoning_support import KEY

from oculi.testing.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ai_sdk_reasoning.mjs")


def test_ai_sdk_reads_reasoning(thinking_server: ServerProcess, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "@ai-sdk" / "xai").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node and node_modules (npm ci) are needed for the AI SDK test")
        pytest.skip("node or node_modules/@ai-sdk/xai missing: run `npm ci` in the repository root")
    program = tmp_path / SCRIPT.name
    shutil.copy(SCRIPT, program)
    (tmp_path / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)
    env = {**os.environ, "OCULI_BASE_URL": thinking_server.v1, "OCULI_API_KEY": KEY}
    done = subprocess.run([node, str(program)], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["errors"] == []
    client = OpenAI(base_url=thinking_server.v1, api_key=KEY, max_retries=0)
    expected = client.responses.create(
        model="grok-4",
        input="What is in the picture?",
        max_output_tokens=24,
        temperature=0,
        reasoning={"effort": "low"},
    )
    assert got["responses"]["reasoning"] == expected.output[0].content[0].text  # type: ignore[union-attr,index]
    assert got["responses"]["text"] == expected.output_text
    assert got["responses"]["reasoningTokens"] == expected.usage.output_tokens_details.reasoning_tokens  # type: ignore[union-attr]
    assert got["whole"] == {"reasoning": got["responses"]["reasoning"], "text": got["responses"]["text"]}
