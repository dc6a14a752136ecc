"""The playground on a thinking model: a collapsible "Thinking" section that streams, and reasoning in the usage line.

A real headless Chromium (see ``test_api_playground``) against the suite's shared
``oculi serve`` on the tiny thinking checkpoint (``tests/servers.py``), whose answers are all thinking (random
weights never close the block).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playground_support import CHROMIUM, Page, browser_or_fail
from playwright.sync_api import Browser, sync_playwright
from servers import KEY

from oculi.testing.server import ServerProcess


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    browser_or_fail()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


def test_thinking_streams_into_a_collapsible_section(browser: Browser, thinking_server: ServerProcess) -> None:
    tab = Page(browser, thinking_server, key=KEY)
    try:
        tab.ready()
        tab.page.click("summary")
        tab.page.fill("#max-tokens", "12")
        answer = tab.ask("What do you see?")
        thinking = answer.locator("details.thinking")
        assert thinking.is_visible()
        assert thinking.locator("summary").inner_text() == "Thinking"
        assert thinking.locator(".thought").inner_text().strip()
        assert answer.locator(".answer").inner_text() == ""
        meta = answer.locator(".meta").inner_text()
        assert "completion 12 tokens (reasoning 12)" in meta, meta
        thinking.locator("summary").click()  # it folds
        assert thinking.evaluate("d => d.open") is False
        assert not tab.errors, tab.errors
    finally:
        tab.close()
