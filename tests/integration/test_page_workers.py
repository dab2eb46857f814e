"""The page in Chromium, through the shipped nginx config in front of two web processes that run no job
(``JOB_WORKERS=remote``) and a worker: the web processes restart one after the other mid-stream, and the
page shows every line once."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.integration.test_page import browser, open_page, screenshot
from tests.nginx import NginxProcess
from tests.redis_server import RedisProcess
from tests.server import ServerProcess
from tests.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

__all__ = ("browser",)  # the module-scoped Chromium fixture, shared with the page's own tests


@pytest.fixture
def settings(default_kb: Path) -> Iterator[dict[str, str]]:
    with RedisProcess() as redis:
        yield {"KNOWLEDGE_BASE": str(default_kb), "REDIS_URL": redis.url, "JOB_WORKERS": "remote",
               "ECHO_JOB_OUTPUT": "1", "SSE_RETRY_MS": "200", "SHUTDOWN_GRACE_PERIOD": "0.5"}


def test_the_page_streams_through_a_rolling_restart_of_the_web_processes(
    browser: Browser, settings: dict[str, str]
) -> None:
    token = secrets.token_hex(6)
    webs = [ServerProcess(settings), ServerProcess(settings)]
    worker = WorkerProcess(settings)
    try:
        for web in webs:
            web.wait_ready()
        worker.wait_ready()
        with NginxProcess([web.port for web in webs]) as nginx, open_page(browser) as page:
            page.goto(f"{nginx.url}/?model=ticker")
            page.fill("#subject", json.dumps({"ticks": 120, "interval": 0.1, "token": token}))
            page.click("#generate")
            for index, tick in ((0, 15), (1, 50)):  # a deploy: each web process restarts in turn
                expect(page.locator("#log")).to_contain_text(f"tick {tick} ")
                old = webs[index]
                old.stop()
                webs[index] = ServerProcess(settings, port=old.port)
                webs[index].wait_ready()
            expect(page.locator("#status")).to_contain_text("Done in", timeout=60_000)
            lines = (page.locator("#log").text_content() or "").splitlines()
            screenshot(page, "page-workers-restart.png")
    finally:
        for web in webs:
            web.stop()
        worker.stop()
    assert [line.split()[1] for line in lines] == [str(i) for i in range(120)], "every line once, in order"
    ran = [line for line in worker.output() if line.endswith(f" {token}") and line.split()[-3] == "0"]
    assert len(ran) == 1, "the job ran once, on the worker, through both restarts"
