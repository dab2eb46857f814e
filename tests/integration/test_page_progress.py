"""A progress bar in the thinking box is one line that updates in place: the page in Chromium.

The server side (a 10,000-step bar becomes its first state, a few ``ProgressUpdate`` states and
its final state) is tested in ``tests/integration/test_jobs_capture.py``; here the job's event stream is
served to the page as the EventSource route sends it, ``progress-update`` events included.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Route, expect, sync_playwright

from tests.server import ROOT, ServerProcess

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

BAR = "{:3d}%|{:10s}| {}/10000"


def sse(kind: str, text: str, seq: int) -> str:
    data = "".join(f"data: {line}\n" for line in text.split("\n"))
    return f"id: job_bar:{seq}\nevent: {kind}\n{data}\n"


def events() -> str:
    states = [(0, ""), (37, "###"), (74, "#######"), (100, "##########")]
    parts = [sse("progress", "starting\n", 1)]
    parts.append(sse("progress", BAR.format(states[0][0], states[0][1], 0) + "\n", 2))
    for seq, (percent, bar) in enumerate(states[1:], start=3):
        parts.append(sse("progress-update", BAR.format(percent, bar, percent * 100) + "\n", seq))
    parts.append(sse("progress", "finished\n", 6))
    complete = {"markdown": "# Done\n", "html": "<h1>Done</h1>", "sources": [], "timings": {}, "elapsed_ms": 1.0}
    parts.append(sse("complete", json.dumps(complete), 7))
    return "retry: 1000\n" + "".join(parts)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess({"HEARTBEAT_INTERVAL": "0.2"}) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def test_a_progress_bar_is_one_line_that_updates_in_place(browser: Browser, server: ServerProcess) -> None:
    context = browser.new_context()
    context.set_default_timeout(20_000)
    page = context.new_page()

    def start_job(route: Route) -> None:
        job = {"id": "job_bar", "status": "running", "events_url": "/v1/jobs/job_bar/events"}
        route.fulfill(status=201, content_type="application/json", body=json.dumps(job))

    def job_events(route: Route) -> None:
        route.fulfill(status=200, content_type="text/event-stream", body=events())

    try:
        page.route("**/v1/jobs", start_job)
        page.route("**/v1/jobs/job_bar/events*", job_events)
        page.goto(server.url)
        page.fill("#subject", "a progress bar")
        page.click("#generate")
        expect(page.locator("#course")).to_contain_text("Done")
        lines = page.locator("#log").evaluate("log => log.textContent").splitlines()
        assert lines == ["starting", "100%|##########| 10000/10000", "finished"]
    finally:
        context.close()


def test_a_real_jobs_bar_is_one_updating_line_on_the_page(browser: Browser) -> None:
    """The same, end to end: a job of one's own (served through ``JOBS``) redraws a bar with ``\\r``."""
    env = {"JOBS": "slow-bar=tests.jobs_capture:slow_bar", "PYTHONPATH": str(ROOT)}
    with ServerProcess(env) as real:
        context = browser.new_context()
        context.set_default_timeout(20_000)
        page = context.new_page()
        try:
            page.goto(f"{real.url}/?model=slow-bar")
            page.fill("#subject", "1.5")
            page.click("#generate")
            expect(page.locator("#status")).to_contain_text("Done in")
            lines = page.locator("#log").evaluate("log => log.textContent").splitlines()
        finally:
            context.close()
        metrics = httpx.get(f"{real.url}/metrics", timeout=10).text
    assert lines == ["starting", "100%|##########|", "finished"], lines
    updates = re.search(r'course_stream_events_sent_total\{kind="progress-update",route="jobs"\} (\d+)', metrics)
    assert updates is not None and 2 <= int(updates.group(1)) <= 1.5 / 0.25 + 2, "a few updates in place, not 150 lines"
