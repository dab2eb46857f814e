"""The page in Chromium, through the shipped nginx config in front of two processes sharing Redis:
a course streams, the connection drops, the reconnect lands on either process, every line shows once."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.integration.test_page import browser, open_page, screenshot
from tests.nginx import NginxProcess
from tests.proxy import CuttingProxy
from tests.redis_server import RedisProcess
from tests.server import ServerProcess

pytestmark = pytest.mark.integration

__all__ = ("browser",)  # the module-scoped Chromium fixture, shared with the page's own tests


@pytest.fixture(scope="module")
def scaled(default_kb: Path) -> Iterator[tuple[ServerProcess, ServerProcess, NginxProcess]]:
    with RedisProcess() as redis:
        env = {"KNOWLEDGE_BASE": str(default_kb), "REDIS_URL": redis.url, "ECHO_JOB_OUTPUT": "1",
               "SSE_RETRY_MS": "200"}
        with ServerProcess(env) as a, ServerProcess(env) as b, NginxProcess([a.port, b.port]) as nginx:
            yield a, b, nginx


def test_a_dropped_connection_resumes_on_either_process_and_shows_every_line_once(
    browser: Browser, scaled: tuple[ServerProcess, ServerProcess, NginxProcess]
) -> None:
    a, b, nginx = scaled
    token = secrets.token_hex(6)
    with CuttingProxy(nginx.port) as proxy, open_page(browser) as page:
        page.goto(f"{proxy.url}/?model=ticker")
        page.fill("#subject", json.dumps({"ticks": 60, "interval": 0.05, "token": token}))
        page.click("#generate")
        for tick in (10, 25, 40):
            expect(page.locator("#log")).to_contain_text(f"tick {tick} ")
            proxy.drop_all()  # the page's stream dies; Chromium reconnects with Last-Event-ID through nginx
        expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
        lines = (page.locator("#log").text_content() or "").splitlines()
        screenshot(page, "page-scaled.png")
    assert [line.split()[1] for line in lines] == [str(i) for i in range(60)], "every line once, in order"
    started = [line for line in a.output() + b.output() if line.endswith(f" {token}") and line.split()[-3] == "0"]
    assert len(started) == 1, "the reconnects resumed the job instead of starting another"
    readers = [any("/events" in line and "event=request" in line for line in s.output()) for s in (a, b)]
    assert readers == [True, True], "the stream was served by both processes"


def test_a_course_streams_through_nginx_over_two_processes(
    browser: Browser, scaled: tuple[ServerProcess, ServerProcess, NginxProcess]
) -> None:
    _, _, nginx = scaled
    with open_page(browser) as page:
        page.goto(nginx.url)
        page.fill("#subject", "list comprehensions")
        page.click("#generate")
        expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
        expect(page.locator("#course h1").first).to_be_visible()
        log = page.locator("#log").text_content() or ""
    assert "PHASE 1" in log and "Course ready" in log
