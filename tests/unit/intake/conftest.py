"""Fixtures for the intake tests: Intake instances, a real HTTP server on 127.0.0.1, sample images."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from intake_helpers import ImageServer, encode, make_settings, photo

from oculi.intake.pipeline import Intake


@pytest_asyncio.fixture(loop_scope="session")
async def make_intake() -> AsyncIterator[Callable[..., Intake]]:
    """Build Intake objects with setting overrides; all are closed after the test."""
    made: list[Intake] = []

    def factory(**overrides: Any) -> Intake:
        intake = Intake(make_settings(**overrides))
        made.append(intake)
        return intake

    yield factory
    for intake in made:
        await intake.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def server() -> AsyncIterator[ImageServer]:
    """A fresh real HTTP server on 127.0.0.1 for one test."""
    srv = ImageServer()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture(scope="session")
def small_png() -> bytes:
    """A 64×48 photo-like PNG."""
    return encode(photo(64, 48, seed=3), "PNG")


@pytest.fixture(scope="session")
def small_jpeg() -> bytes:
    """A 640×480 photo-like JPEG."""
    return encode(photo(640, 480, seed=4), "JPEG", quality=90)
