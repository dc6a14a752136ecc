"""Which paths answer without a key when keys are configured: health and the web page, nothing else."""

from __future__ import annotations

import pytest

from oculi.api.middleware import is_public


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/", "/playground", "/playground/", "/playground/app.js"])
def test_health_and_the_page_are_public(path: str) -> None:
    assert is_public(path)


@pytest.mark.parametrize(
    "path",
    [
        "/metrics",
        "/docs",
        "/openapi.json",
        "/redoc",
        "/v1/models",
        "/v1/files",
        "/v1/batches",
        "/healthz",
        "/health/other",
        "//v1/x",
    ],
)
def test_everything_else_needs_a_key(path: str) -> None:
    assert not is_public(path)
