"""Helpers of the Files API tests: keys, real test images, a hand-built multipart body."""

from __future__ import annotations

import io

from PIL import Image
from servers import KEY, OTHER_KEY, MiB  # noqa: F401  (the suite's keys, re-exported)

#: Limits of ``limited_server`` (conftest): small, so refusals are cheap to reach.
LIMITED_MAX_FILE = 4 * MiB
LIMITED_QUOTA_BYTES = 6 * MiB
LIMITED_QUOTA_COUNT = 3


def picture(width: int, height: int, fmt: str = "PNG", seed: int = 0) -> bytes:
    """A real image with structure (a gradient and a coloured block), encoded as ``fmt``."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    colour = ((seed * 67) % 256, (seed * 131) % 256, (seed * 29) % 256)
    image.paste(colour, (width // 4, height // 4, width // 2, height // 2))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "oculi-test-boundary") -> tuple[bytes, str]:
    """A multipart/form-data body with ``(name, filename, value)`` parts IN THIS ORDER, and its content type.

    (httpx always puts fields before files; curl users put them in any order.)
    """
    body = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
