"""Shared constants and helpers of the reasoning tests (a plain module: conftest files are not importable by name)."""

from __future__ import annotations

import base64
import io

from PIL import Image

KEY = "oculi-reasoning-test-key-0123456789"
#: Reasoning tokens of the ``low`` effort on the test servers.
BUDGET = 6


def picture_url() -> str:
    """A small PNG as a data URL."""
    image = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
