"""Shared constants and helpers of the reasoning tests (a plain module: conftest files are not importable by name).

The tests run on the suite's shared ``thinking_server`` (``tests/servers.py``): the tiny thinking
checkpoint (``oculi.testing.thinking``) opens ``<think>`` in its generation prompt; with random weights
it never closes it by itself, so a plain answer is all reasoning. The ``low`` effort's budget is small
there (``BUDGET`` tokens), so a ``low`` answer closes its thinking after exactly that many tokens and
goes on with an answer: both halves of the split.
"""

from __future__ import annotations

import base64
import io

from PIL import Image
from servers import KEY  # noqa: F401  (the suite's key, re-exported)
from servers import THINKING_BUDGET as BUDGET  # noqa: F401  (reasoning tokens of the ``low`` effort)


def picture_url() -> str:
    """A small PNG as a data URL."""
    image = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
