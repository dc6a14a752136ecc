"""The oculi-lite engine, loaded once for the session with its real bundled models."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oculi.engines.lite import LiteEngine, load
from oculi.settings import Settings


@pytest.fixture(scope="session")
async def engine() -> AsyncIterator[LiteEngine]:
    """The real engine with its bundled models, loaded once for the session."""
    lite = load(Settings(threads=2))
    yield lite
    await lite.close()
