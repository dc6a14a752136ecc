"""Structured output through the AI SDK (npm ``ai`` + ``@ai-sdk/xai``): ``generateObject`` with an image."""

from __future__ import annotations

import json

import pytest
from conformance_harness import program_marks
from structured_models import Receipt


@pytest.mark.parametrize("program", [pytest.param("ai_sdk_generate_object.mjs", marks=program_marks(".mjs"))])
def test_generate_object_with_an_image_matches_the_zod_schema(examples, images, program: str) -> None:
    run = examples.run(program, files={"data/receipt.png": images.comic_cat.path})
    assert run.returncode == 0, run.explain()
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 2, run.explain()
    for line in lines:
        Receipt.model_validate(json.loads(line))
