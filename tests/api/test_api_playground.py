"""The playground page in a real headless Chromium against a real ``oculi serve``.

The server is the session's ``vlm_server`` (tiny InternVL as the default model,
oculi-lite beside it, API keys on, 127.0.0.1 admitted for image URLs). The
browser is Debian's ``chromium`` driven by Playwright; in CI (``CI`` set) a
missing browser fails the module instead of skipping it. Screenshots at 1280
and 360 px go to ``$OCULI_SCREENSHOT_DIR`` (or pytest's temporary directory),
printed at the end of the run.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import GIF_BYTES, KEY, ImageServer, image_bytes
from playground_support import (
    AUTH,
    CHROMIUM,
    NODE_OPENAI,
    REPO_ROOT,
    SIGN_WORDS,
    Page,
    active_requests,
    browser_or_fail,
    run_example,
    sign_png,
    wait_for_active,
)
from playwright.sync_api import Browser, sync_playwright
from spec_oracle import expected_image_tokens

from oculi.testing.server import ServerProcess


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    browser_or_fail()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = Path(os.environ.get("OCULI_SCREENSHOT_DIR") or tmp_path_factory.mktemp("playground-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    print(f"\nplayground screenshots: {folder}")


@pytest.fixture
def tab(browser: Browser, vlm_server: ServerProcess) -> Iterator[Page]:
    page = Page(browser, vlm_server)
    yield page
    page.close()


# --- the page -----------------------------------------------------------------------------------


def test_page_loads_with_a_strict_policy_and_no_console_errors(tab: Page) -> None:
    response = tab.open()
    assert response is not None and response.status == 200
    assert tab.page.url == tab.server.base_url + "/playground"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' blob: data:" in policy
    tab.page.wait_for_selector("#model:not([disabled])")
    models = tab.page.locator("#model option").all_inner_texts()
    assert "oculi-lite" in models and len(models) == 2
    assert tab.errors == []
    assert all(url.startswith(tab.server.base_url) or url.startswith("data:") for url in tab.requests), tab.requests
    script = httpx.get(tab.server.base_url + "/playground/main.js", timeout=10)
    assert script.headers["content-type"].startswith("text/javascript")
    missing = httpx.get(tab.server.base_url + "/playground/router.py", timeout=10)  # only the static assets
    assert missing.status_code == 404 and "error" in missing.json()


def test_without_a_key_the_page_asks_for_one_and_shows_the_401(browser: Browser, vlm_server: ServerProcess) -> None:
    tab = Page(browser, vlm_server, key=None)
    try:
        tab.open()
        panel = tab.page.locator("#key-panel")
        panel.wait_for()
        assert tab.page.locator("#model option").all_inner_texts() == ["loading…"]  # nothing without a key
        tab.page.fill("#key-input", "sk-wrong")
        tab.page.click("text=Use key")
        tab.page.wait_for_selector("#key-status:has-text('401')")
        assert "Incorrect API key" in tab.page.inner_text("#key-status")
        tab.page.fill("#key-input", KEY)
        tab.page.click("text=Use key")
        tab.page.wait_for_selector("#model:not([disabled])")
        assert panel.is_hidden()
        assert tab.page.evaluate("localStorage.getItem('oculi.apiKey')") == KEY
    finally:
        tab.close()


def test_tiles_and_cost_for_high_and_low(tab: Page, tmp_path: Path, screenshots: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(image_bytes(1600, 1200))
    tab.ready()
    tab.add_file(photo)
    card = tab.page.locator(".part-image").first
    card.locator(".cost:has-text('1792 image tokens')").wait_for()
    assert card.locator(".cost").inner_text() == "6 tiles + thumbnail · 1792 image tokens"
    assert card.locator(".grid .tile").count() == 6  # the 3 × 2 grid the server chose
    assert "3 × 2 grid of 448-px tiles" in card.inner_text()
    tab.page.fill("#prompt", "What is in this image?")
    tab.page.click("#view-code")
    tab.page.screenshot(path=str(screenshots / "playground-1280.png"), full_page=True)
    tab.page.set_viewport_size({"width": 360, "height": 800})
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    tab.page.screenshot(path=str(screenshots / "playground-360.png"), full_page=True)
    card.locator("select.detail").select_option("low")
    card.locator(".cost:has-text('256 image tokens')").wait_for()
    assert card.locator(".grid .tile").count() == 1
    assert tab.errors == []


def test_a_gif_shows_the_servers_refusal(tab: Page, tmp_path: Path, vlm_server: ServerProcess) -> None:
    gif = tmp_path / "animation.gif"
    gif.write_bytes(GIF_BYTES)
    data_url = "data:image/gif;base64," + base64.b64encode(GIF_BYTES).decode()
    refusal = httpx.post(
        vlm_server.v1 + "/image-tokens", json={"image_url": data_url}, headers=AUTH, timeout=30
    ).json()["error"]
    tab.ready()
    tab.add_file(gif)
    shown = tab.page.locator(".part-image .error")
    shown.wait_for()
    assert shown.inner_text() == f"400 · {refusal}"
    assert "GIF" in refusal
    tab.page.fill("#prompt", "What is this?")
    tab.page.click("#send")
    assert "Remove the images the server refused" in tab.page.inner_text("#status")


def test_an_image_over_20_mib_shows_the_servers_refusal(tab: Page, tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    head = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17  # a PNG start, then padding
    huge.write_bytes(head + b"\x00" * (20 * 1024 * 1024 + 1 - len(head)))
    tab.ready()
    tab.add_file(huge)
    shown = tab.page.locator(".part-image .error")
    shown.wait_for()
    assert shown.inner_text().startswith("400 · ") and "20 MiB" in shown.inner_text(), shown.inner_text()


def test_image_urls_are_counted_by_the_server_and_bad_ones_refused(
    tab: Page, image_server: ImageServer, screenshots: Path
) -> None:
    good = image_server.add("/playground/wide.png", image_bytes(1000, 500))
    missing = image_server.url("/playground/missing.png")
    private = "http://10.11.12.13/photo.png"  # the SSRF guard refuses private addresses
    guard = httpx.post(tab.server.v1 + "/image-tokens", json={"image_url": private}, headers=AUTH, timeout=30)
    tab.ready()
    for url in (good, missing, private):
        tab.page.fill("#url-input", url)
        tab.page.click("text=Add URL")
    cards = tab.page.locator(".part-image")
    cards.nth(0).locator(".cost:not(.pending)").wait_for()
    assert cards.nth(0).locator(".cost").inner_text() == "2 tiles + thumbnail · 768 image tokens"
    error = cards.nth(1).locator(".error")
    error.wait_for()
    assert "404" in error.inner_text() and "127.0.0.1" in error.inner_text()
    refused = cards.nth(2).locator(".error")
    refused.wait_for()
    # Counted alone, the server calls it "Image 0"; the page names it by its place among the page's images.
    said = guard.json()["error"]
    assert said.startswith("Image 0: ")
    assert refused.inner_text() == f"{guard.status_code} · Image 2: {said.removeprefix('Image 0: ')}"
    assert "404" in error.inner_text() and "Image 1: " in error.inner_text()
    tab.page.screenshot(path=str(screenshots / "playground-urls-1280.png"), full_page=True)
    assert not any(url.startswith(image_server.url("")) for url in tab.requests)  # the server fetched, not the page


# --- asking -------------------------------------------------------------------------------------


def test_sign_answer_streams_and_a_follow_up_continues(
    tab: Page, tmp_path: Path, vlm_server: ServerProcess, screenshots: Path
) -> None:
    tab.ready()
    tab.page.select_option("#model", "oculi-lite")
    tab.add_file(sign_png(tmp_path / "sign.png"))
    tab.page.locator(".part-image .cost:not(.pending)").wait_for()
    # Count the text pieces the page appends while the answer streams.
    tab.page.evaluate(
        """() => {
            window.pieces = 0;
            new MutationObserver((records) => {
                for (const r of records) {
                    if (r.target.classList?.contains("answer")) window.pieces += r.addedNodes.length;
                }
            }).observe(document.getElementById("conversation"), {childList: true, subtree: true});
        }"""
    )
    first = tab.ask("What does the sign say?")
    text = first.locator(".answer").inner_text()
    assert all(word in text.upper() for word in SIGN_WORDS), text
    assert tab.page.evaluate("window.pieces") > 1  # streamed: many deltas, not one block
    meta = first.locator(".meta").inner_text()
    image_tokens = expected_image_tokens(900, 360, "auto")
    # Each image's level and why follow the token counts (the 900×360 sign: more than one view, so high).
    usage = rf"image {image_tokens} · text \d+ · completion \d+ tokens · image 0: high \([^)]+\) · first token [\d.]+ s"
    assert re.search(usage, meta), meta
    first_id = first.get_attribute("data-response-id")
    assert first_id

    second = tab.ask("How many words are on it?")
    second_id = second.get_attribute("data-response-id")
    assert second_id and second_id != first_id
    stored = httpx.get(f"{vlm_server.v1}/responses/{second_id}", headers=AUTH, timeout=30).json()
    assert stored["previous_response_id"] == first_id
    assert tab.errors == []
    tab.page.screenshot(path=str(screenshots / "playground-answer-1280.png"), full_page=True)
    tab.page.set_viewport_size({"width": 360, "height": 800})
    tab.page.screenshot(path=str(screenshots / "playground-answer-360.png"), full_page=True)


def test_stop_frees_the_servers_slot(tab: Page, vlm_server: ServerProcess) -> None:
    """Stop a long answer of the tiny random model: the server's active-request count drops at once.

    Greedy decoding (temperature 0) makes the answer repeatable: to "Hello" the
    seeded tiny checkpoint writes about 2500 tokens before its EOS (seconds of
    work), while sampled answers often end within a second.
    """
    tiny = httpx.get(vlm_server.v1 + "/models", headers=AUTH, timeout=10).json()["data"][0]["id"]
    assert wait_for_active(vlm_server, 0)
    tab.ready()
    tab.page.select_option("#model", tiny)
    tab.page.click("summary")
    tab.page.fill("#max-tokens", "4000")
    tab.page.fill("#temperature", "0")
    tab.page.fill("#prompt", "Hello")
    tab.page.click("#send")
    tab.last_answer().locator(".answer:not(:empty)").wait_for(timeout=120_000)  # tokens are streaming in
    assert active_requests(vlm_server) == 1, "the answer ended before it could be stopped"
    tab.page.click("#stop")
    tab.last_answer().locator(".meta:has-text('Stopped')").wait_for()
    assert wait_for_active(vlm_server, 0), "the server did not free the slot"
    assert tab.page.is_enabled("#send") and tab.page.is_disabled("#stop")


def test_view_code_curl_runs(tab: Page, tmp_path: Path) -> None:
    shutil.which("curl") or pytest.fail("curl is needed to run the page's curl command")
    tab.ready()
    tab.page.select_option("#model", "oculi-lite")
    tab.add_file(sign_png(tmp_path / "sign.png"))
    tab.page.locator(".part-image .cost:not(.pending)").wait_for()
    tab.page.locator(".part-image select.detail").select_option("high")
    tab.page.fill("#prompt", "What does the sign say? It's 'urgent' & costs $5.")
    tab.page.click("#view-code")
    tab.page.click("role=tab[name='curl']")
    code = tab.page.inner_text("#code")
    assert "base64 -w0 'sign.png'" in code and KEY not in code
    output = run_example(["bash", "-c", code], tmp_path)
    assert "event: response.completed" in output, output[-2000:]
    deltas = re.findall(r'"type":"response.output_text.delta".*?"delta":"((?:[^"\\]|\\.)*)"', output)
    answer = "".join(deltas)
    assert all(word in answer.upper() for word in SIGN_WORDS), output[-2000:]
    assert f'"image_tokens":{expected_image_tokens(900, 360, "high")}' in output


@pytest.fixture
def sign_code(tab: Page, tmp_path: Path) -> dict[str, str]:
    """The "View code" examples, by tab name, for "What does the sign say?" about sign.png with oculi-lite."""
    tab.ready()
    tab.page.select_option("#model", "oculi-lite")
    tab.add_file(sign_png(tmp_path / "sign.png"))
    tab.page.locator(".part-image .cost:not(.pending)").wait_for()
    tab.page.fill("#prompt", "What does the sign say?")
    tab.page.click("#view-code")
    codes = {}
    for name in ("Python (openai)", "Python (xai-sdk)", "JavaScript (openai)"):
        tab.page.click(f"role=tab[name='{name}']")
        codes[name] = tab.page.inner_text("#code")
    return codes


def test_view_code_offers_every_client(sign_code: dict[str, str], tab: Page, tmp_path: Path) -> None:
    """Each client's code names this server; the openai Python one runs (this server's gRPC port is off)."""
    expected = {
        "Python (openai)": ["from openai import OpenAI", f'base_url="{tab.server.v1}"', 'data_url("sign.png"'],
        "Python (xai-sdk)": ["from xai_sdk import Client", "chat.stream()", 'image(data_url("sign.png"'],
        "JavaScript (openai)": ['import OpenAI from "openai"', f'baseURL: "{tab.server.v1}"', "stream: true"],
    }
    for name, snippets in expected.items():
        for snippet in snippets:
            assert snippet in sign_code[name], (name, snippet, sign_code[name])
    compile(sign_code["Python (xai-sdk)"], "xai-sdk example", "exec")
    output = run_example([sys.executable, "-c", sign_code["Python (openai)"]], tmp_path)
    assert all(word in output.upper() for word in SIGN_WORDS), output


@pytest.mark.node
@pytest.mark.skipif(
    shutil.which("node") is None or not NODE_OPENAI.is_dir(),
    reason="node or node_modules/openai is missing: run `npm ci` in the repository root",
)
def test_view_code_javascript_runs(sign_code: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "example.mjs").write_text(sign_code["JavaScript (openai)"])
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules", target_is_directory=True)
    output = run_example(["node", "example.mjs"], tmp_path)
    assert all(word in output.upper() for word in SIGN_WORDS), output


DROP_AND_PASTE = """([png, jpeg]) => {
    const file = (b64, name, type) => new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, {type});
    const dropped = new DataTransfer();
    dropped.items.add(file(png, "dropped.png", "image/png"));
    document.getElementById("drop-zone").dispatchEvent(
        new DragEvent("drop", {dataTransfer: dropped, bubbles: true, cancelable: true}));
    const pasted = new DataTransfer();
    pasted.items.add(file(jpeg, "image.jpg", "image/jpeg"));
    document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: pasted, bubbles: true, cancelable: true}));
}"""


def test_drop_paste_and_text_blocks_go_out_in_the_order_arranged(tab: Page) -> None:
    png = base64.b64encode(image_bytes(1000, 500)).decode()
    jpeg = base64.b64encode(image_bytes(300, 300, "JPEG")).decode()
    tab.ready()
    tab.page.evaluate(DROP_AND_PASTE, [png, jpeg])
    cards = tab.page.locator(".part-image")
    cards.nth(1).locator(".cost:has-text('256 image tokens')").wait_for()  # 300×300 at auto is low
    assert cards.nth(0).locator(".cost").inner_text() == "2 tiles + thumbnail · 768 image tokens"
    assert tab.page.inner_text("#image-total") == "2 images · 1024 image tokens"
    tab.page.click("#add-text")
    tab.page.keyboard.type("Compare these two:")
    tab.page.get_by_role("button", name="Move text block up").click()
    tab.page.get_by_role("button", name="Move text block up").click()  # keyboard focus stays on the button
    tab.page.fill("#prompt", "Which is larger?")
    tab.page.click("#view-code")
    code = tab.page.inner_text("#code")
    order = [code.index(s) for s in ("Compare these two:", "'dropped.png'", "'pasted-1.jpg'", "Which is larger?")]
    assert order == sorted(order), code
    assert "save them as pasted-1.jpg" in tab.page.inner_text("#code-note")
    assert tab.errors == []


def test_keyboard_only(tab: Page) -> None:
    """Skip link to the question, Ctrl+Enter sends, and the controls are reachable with Tab."""
    tab.ready()
    tab.page.select_option("#model", "oculi-lite")
    tab.page.keyboard.press("Tab")
    assert tab.page.evaluate("document.activeElement.textContent") == "Skip to the question"
    tab.page.keyboard.press("Enter")
    assert tab.page.evaluate("document.activeElement.id") == "prompt"
    tab.page.keyboard.type("Hello there")
    tab.page.keyboard.press("Control+Enter")
    tab.last_answer().locator(".meta:not(:empty)").wait_for()
    assert tab.page.evaluate("document.activeElement.id") == "prompt"  # ready for the follow-up
    reached = set()
    for _ in range(12):
        tab.page.keyboard.press("Tab")
        reached.add(tab.page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert {"send", "new-conversation", "view-code"} <= reached, reached


def test_a_refused_question_comes_back_to_be_fixed(tab: Page, tmp_path: Path) -> None:
    """A 400 before any output (here: more output tokens than the context) shows the server's
    message, and the message goes back into the composer, image and all."""
    tab.ready()
    tab.page.select_option("#model", "oculi-lite")
    tab.add_file(sign_png(tmp_path / "sign.png"))
    tab.page.locator(".part-image .cost:not(.pending)").wait_for()
    tab.page.click("summary")
    tab.page.fill("#max-tokens", "100000000")
    answer = tab.ask("What does the sign say?")
    error = answer.locator(".error").inner_text()
    assert error.startswith("400 · ") and "100000000" in error, error
    assert tab.page.input_value("#prompt") == "What does the sign say?"
    assert "The server refused the request: 400" in tab.page.inner_text("#status")
    tab.page.click("#new-conversation")
    image = tab.page.locator(".part-image img").first
    assert image.evaluate("img => img.complete && img.naturalWidth") == 900  # its preview is still alive
    tab.page.fill("#max-tokens", "")
    assert "EMERGENCY" in tab.ask("What does the sign say?").locator(".answer").inner_text().upper()


def test_refusals_name_the_image_by_its_position_and_show_the_files_name(tab: Page, tmp_path: Path) -> None:
    """Each image is counted alone (the server says "Image 0"); the page says which of its images it is."""
    good = tmp_path / "good.png"
    good.write_bytes(image_bytes(64, 48))
    gif = tmp_path / "animation.gif"
    gif.write_bytes(GIF_BYTES)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"not an image at all")
    tab.ready()
    for path in (good, gif, notes):
        tab.add_file(path)
    errors = tab.page.locator(".part-image .error")
    errors.nth(1).wait_for()
    assert errors.nth(0).inner_text().startswith("400 · Image 1: "), errors.nth(0).inner_text()
    assert errors.nth(1).inner_text().startswith("400 · Image 2: "), errors.nth(1).inner_text()
    names = tab.page.locator(".frame.refused .refused-name")
    assert names.all_inner_texts() == ["animation.gif", "notes.txt"]
    assert tab.page.locator(".part-image").nth(2).locator("img").count() == 0  # no broken-image icon
    tab.page.get_by_label("Remove image good.png").click()
    assert errors.nth(0).inner_text().startswith("400 · Image 0: "), errors.nth(0).inner_text()
