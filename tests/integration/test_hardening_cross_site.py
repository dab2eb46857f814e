"""A page on another site cannot start jobs through the GET route (no CORS preflight protects it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess

pytestmark = pytest.mark.integration

TICKER = {"model": "ticker", "subject": json.dumps({"ticks": 1, "interval": 0})}


@pytest.fixture(scope="module")
def allowing(default_kb: Path) -> Iterator[ServerProcess]:
    env = {"KNOWLEDGE_BASE": str(default_kb), "CORS_ORIGINS": "https://app.example"}
    with ServerProcess(env) as running:
        yield running


def started_jobs(server: ServerProcess) -> int:
    return sum("event=job " in line for line in server.output())


def test_a_cross_site_browser_request_starts_no_job(allowing: ServerProcess) -> None:
    before = started_jobs(allowing)
    for headers in ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},  # EventSource
                    {"Sec-Fetch-Site": "cross-site"}):  # an image tag: no Origin at all
        refused = httpx.get(f"{allowing.url}/v1/courses/stream", params=TICKER, headers=headers, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_site_request"
    assert started_jobs(allowing) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, scripts, SDKs: no Sec-Fetch-Site
        {"Sec-Fetch-Site": "same-origin"},  # the service's own page
        {"Sec-Fetch-Site": "same-site"},  # another port of the same host
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example"},  # listed in CORS_ORIGINS
    ],
)
def test_everyone_else_is_served(allowing: ServerProcess, headers: dict[str, str]) -> None:
    response = httpx.get(f"{allowing.url}/v1/courses/stream", params=TICKER, headers=headers, timeout=10)
    assert response.status_code == 200 and "event: complete" in response.text
