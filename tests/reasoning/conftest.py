"""A real ``oculi serve`` on the tiny thinking checkpoint (HTTP + gRPC), for every client's view of reasoning.

The checkpoint (``oculi.testing.thinking``) opens ``<think>`` in its
generation prompt; with random weights it never closes it by itself, so a
plain answer is all reasoning. The ``low`` effort's budget is small here
(``BUDGET`` tokens), so a ``low`` answer closes its thinking after exactly
that many tokens and goes on with an answer: both halves of the split.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from oculi.testing.server import ServerProcess, running_server

KEY = "oculi-reasoning-test-key-0123456789"
#: Reasoning tokens of the ``low`` effort on the test server.
BUDGET = 6


def picture_url() -> str:
    """A small PNG as a data URL."""
    image = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="session")
def thinking_server(tiny_thinking: Path) -> Iterator[ServerProcess]:
    """``oculi serve`` with the thinking checkpoint; ``low`` effort = ``BUDGET`` reasoning tokens."""
    env = {"OCULI_THREADS": "2", "OCULI_REASONING_BUDGETS": json.dumps({"low": BUDGET, "medium": 2 * BUDGET})}
    with running_server(models=[str(tiny_thinking)], api_keys=[KEY], env=env) as server:
        yield server
