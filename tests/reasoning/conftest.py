"""A real ``oculi serve`` on the tiny thinking checkpoint (HTTP + gRPC), for every client's view of reasoning.

The checkpoint (``oculi.testing.thinking``) opens ``<think>`` in its
generation prompt; with random weights it never closes it by itself, so a
plain answer is all reasoning. The ``low`` effort's budget is small here
(``BUDGET`` tokens), so a ``low`` answer closes its thinking after exactly
that many tokens and goes on with an answer: both halves of the split.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from reasoning_support import BUDGET, KEY

from oculi.testing.server import ServerProcess, running_server


@pytest.fixture(scope="session")
def thinking_server(tiny_thinking: Path) -> Iterator[ServerProcess]:
    """``oculi serve`` with the thinking checkpoint; ``low`` effort = ``BUDGET`` reasoning tokens."""
    env = {"OCULI_THREADS": "2", "OCULI_REASONING_BUDGETS": json.dumps({"low": BUDGET, "medium": 2 * BUDGET})}
    with running_server(models=[str(tiny_thinking)], api_keys=[KEY], env=env) as server:
        yield server
