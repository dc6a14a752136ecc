"""Helpers of the playground's browser tests: a recorded browser tab, the sign image, the server's load.

Playwright drives Debian's ``chromium`` (``/usr/bin/chromium``, or ``$OCULI_CHROMIUM``);
Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from api_support import KEY
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import Browser, Locator, Response

from oculi.testing.server import ServerProcess

CHROMIUM = os.environ.get("OCULI_CHROMIUM", "/usr/bin/chromium")
SIGN_WORDS = ("EMERGENCY", "EXIT")
AUTH = {"authorization": f"Bearer {KEY}"}


def browser_or_fail() -> None:
    """Skip without Chromium, except in CI (``CI`` set), where a missing browser is a failure."""
    if Path(CHROMIUM).exists():
        return
    message = f"no Chromium at {CHROMIUM}: scripts/install.sh installs Debian's chromium package"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Page:
    """A browser tab on the playground that records console errors and every request it makes."""

    def __init__(self, browser: Browser, server: ServerProcess, key: str | None = KEY) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        if key:
            self.context.add_init_script(f"localStorage.setItem('oculi.apiKey', {key!r})")
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self) -> Response | None:
        response = self.page.goto(self.server.base_url + "/")
        return response

    def ready(self) -> None:
        """Open the page and wait for the model list (the key is in local storage)."""
        self.open()
        self.page.wait_for_selector("#model:not([disabled])")

    def add_file(self, path: Path) -> None:
        self.page.set_input_files("#file-input", str(path))

    def last_answer(self) -> Locator:
        return self.page.locator(".turn.assistant").last

    def ask(self, question: str) -> Locator:
        self.page.fill("#prompt", question)
        self.page.click("#send")
        answer = self.last_answer()
        answer.locator(".meta:not(:empty), .error").first.wait_for()
        return answer

    def close(self) -> None:
        self.context.close()


def sign_png(path: Path) -> Path:
    """Black words on a white board (as in test_api_lite)."""
    image = Image.new("RGB", (900, 360), "white")
    ImageDraw.Draw(image).text((60, 120), " ".join(SIGN_WORDS), font=ImageFont.load_default(size=96), fill="black")
    image.save(path, "PNG")
    return path


def active_requests(server: ServerProcess) -> float:
    """Generations in progress, from ``/metrics`` (``oculi_queue_depth``)."""
    text = httpx.get(server.base_url + "/metrics", headers=AUTH, timeout=10).text
    match = re.search(r"^oculi_queue_depth (\S+)$", text, re.MULTILINE)
    assert match, "oculi_queue_depth missing from /metrics"
    return float(match.group(1))


def wait_for_active(server: ServerProcess, count: int, timeout: float = 60) -> bool:
    """Poll ``/metrics`` until ``count`` generations are in progress."""
    deadline = time.monotonic() + timeout
    while active_requests(server) != count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_OPENAI = REPO_ROOT / "node_modules" / "openai"


def run_example(argv: list[str], cwd: Path) -> str:
    """Run a "View code" example next to its image file with the key in $OCULI_API_KEY; its output."""
    env = {**os.environ, "OCULI_API_KEY": KEY}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout
