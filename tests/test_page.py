"""The thinking-box page in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from tests.proxy import CuttingProxy
from tests.server import ROOT, ServerProcess

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "artifacts"

# Flags for a sandboxed, offline machine: no background networking, no GPU, no first-run UI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Records when the first thinking-box line and the first piece of course appear.
OBSERVE = """
window.__seen = {};
document.addEventListener("DOMContentLoaded", () => {
  const mark = (name) => () => { if (!(name in window.__seen)) window.__seen[name] = performance.now(); };
  new MutationObserver(mark("log")).observe(document.getElementById("log"), {childList: true});
  new MutationObserver(mark("course")).observe(document.getElementById("course"), {childList: true});
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(20_000)
    opened = context.new_page()
    opened.add_init_script(OBSERVE)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    yield opened
    context.close()
    assert dialogs == [], "no script from a subject or a document may run"


def test_generates_a_course_with_the_thinking_box_first(page: Page, server: ServerProcess) -> None:
    page.goto(server.url)
    expect(page.locator("#kb")).to_contain_text("Python language-reference topics")
    page.fill("#subject", "context managers")
    page.click("#generate")
    expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("PHASE 1: KNOWLEDGE RETRIEVAL")
    expect(page.locator("#log")).to_contain_text("PHASE 3: COURSE GENERATION")
    seen = page.evaluate("window.__seen")
    assert seen["log"] <= seen["course"], "thinking-box lines appear before the course"
    expect(page.locator("#course h1")).to_have_text("Context managers")
    expect(page.locator("#course h2", has_text="Quiz")).to_be_visible()
    expect(page.locator("#course pre code").first).to_be_visible()
    expect(page.locator("#source-list li").first).to_be_visible()
    expect(page.locator("#source-list")).to_contain_text("pydoc:with")
    expect(page.locator("#phase")).to_contain_text("phase 3")
    assert page.locator("#generate").is_enabled() and page.locator("#stop").is_disabled()
    # The thinking box folds away when the course is done; open it for the picture.
    page.click("#thinking summary")
    expect(page.locator("#log")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=False)


def test_stop_closes_the_stream_and_the_server_stops_the_job(page: Page, server: ServerProcess) -> None:
    token = secrets.token_hex(6)
    page.goto(f"{server.url}/?model=ticker")
    page.fill("#subject", json.dumps({"ticks": 100_000, "interval": 0.05, "token": token}))
    page.click("#generate")
    expect(page.locator("#log")).to_contain_text("tick 5 ")
    page.click("#stop")
    expect(page.locator("#status")).to_contain_text("Stopped")

    def printed() -> list[int]:
        return [int(line.split()[2]) for line in server.output() if line.endswith(f" {token}")]

    time.sleep(1.0)
    after_a_second = printed()
    time.sleep(0.5)
    assert printed() == after_a_second, "the job kept printing after the page pressed Stop"
    assert len(after_a_second) < 60


def test_a_hostile_subject_is_shown_as_text(page: Page, server: ServerProcess) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    page.goto(server.url)
    page.fill("#subject", hostile)
    page.click("#generate")
    expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
    expect(page.locator("#course h1")).to_contain_text(hostile)
    assert page.locator("img").count() == 0


def test_works_with_the_keyboard_alone_on_a_phone_screen(browser: Browser, server: ServerProcess) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto(server.url)
        page.keyboard.press("Tab")  # the first focusable element is the subject field
        assert page.evaluate("document.activeElement.id") == "subject"
        page.keyboard.type("json")
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
        expect(page.locator("#course h1")).to_have_text("Json")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "nothing is wider than a phone screen"
    finally:
        context.close()


def test_a_failed_job_is_shown_plainly(browser: Browser, tmp_path: Path) -> None:
    with ServerProcess({"KNOWLEDGE_BASE": str(tmp_path)}) as broken:  # a directory: cannot be opened
        context = browser.new_context()
        page = context.new_page()
        try:
            page.goto(broken.url)
            page.fill("#subject", "json")
            page.click("#generate")
            expect(page.locator("#error")).to_contain_text("could not be generated", timeout=20_000)
            expect(page.locator("#error")).to_contain_text("unable to open database file")
            expect(page.locator("#status")).to_have_text("Failed.")
        finally:
            context.close()


def test_the_page_resumes_the_same_job_when_the_connection_is_cut(page: Page, server: ServerProcess) -> None:
    token = secrets.token_hex(6)
    with CuttingProxy(server.port) as proxy:
        page.goto(f"{proxy.url}/?model=ticker")
        page.fill("#subject", json.dumps({"ticks": 40, "interval": 0.05, "token": token}))
        page.click("#generate")
        expect(page.locator("#log")).to_contain_text("tick 5 ")
        proxy.drop_all()  # the connection dies under the page; Chromium reconnects with Last-Event-ID
        expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
    lines = (page.locator("#log").text_content() or "").splitlines()  # the box is folded: read its text
    assert [line.split()[1] for line in lines] == [str(i) for i in range(40)], "every line once, in order"
    started = [line for line in server.output() if line.endswith(f" {token}") and line.split()[-3] == "0"]
    assert len(started) == 1, "the reconnect resumed the job instead of starting another"
    expect(page.locator("#error")).to_be_hidden()


def test_with_api_keys_the_page_asks_for_one_and_never_puts_it_in_a_url(
    browser: Browser, default_kb: Path
) -> None:
    with ServerProcess({"KNOWLEDGE_BASE": str(default_kb), "API_KEYS": "page-secret-key"}) as guarded:
        context = browser.new_context()
        context.set_default_timeout(20_000)
        page = context.new_page()
        urls: list[str] = []
        page.on("request", lambda request: urls.append(request.url))
        try:
            page.goto(guarded.url)
            expect(page.locator("#key-form")).to_be_visible()
            page.fill("#api-key", "page-secret-key")
            page.click("#key-form button")
            expect(page.locator("#kb")).to_contain_text("Python language-reference topics")
            page.fill("#subject", "json")
            page.click("#generate")
            expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
            expect(page.locator("#course h1")).to_have_text("Json")
        finally:
            context.close()
    assert any("access_token=" in url for url in urls), "the stream was opened with a token"
    assert not any("page-secret-key" in url for url in urls), "the key never travels in a URL"
