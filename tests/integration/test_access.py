"""Who may call, against a real server: event streams open with a short-lived token, not a key, and
everyone a page on another site is not (curl, SDKs, the service's own page, listed origins) is served.
(The refusals themselves, in-process: ``tests/api/test_access.py``.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import openai
import pytest

from tests.helpers import ticker
from tests.server import ServerProcess

pytestmark = pytest.mark.integration

TICKER = {"model": "ticker", "subject": json.dumps({"ticks": 1, "interval": 0})}


@pytest.fixture(scope="module")
def allowing(default_kb: Path) -> Iterator[ServerProcess]:
    env = {"KNOWLEDGE_BASE": str(default_kb), "CORS_ORIGINS": "https://app.example"}
    with ServerProcess(env) as running:
        yield running


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


@pytest.fixture(scope="module")
def guarded(default_kb: Path) -> Iterator[ServerProcess]:
    env = {"KNOWLEDGE_BASE": str(default_kb), "API_KEYS": "key-one, key-two", "STREAM_TOKEN_TTL": "2",
           "CORS_ORIGINS": "https://app.example"}
    with ServerProcess(env) as running:
        yield running


@pytest.mark.anyio
async def test_event_streams_take_a_short_lived_token_not_a_key(guarded: ServerProcess) -> None:
    params = {"model": "ticker", "subject": ticker(2, 0.01)}
    async with httpx.AsyncClient(base_url=guarded.url, timeout=10) as http:
        without = await http.get("/v1/courses/stream", params=params)
        issued = await http.post("/v1/stream-tokens", headers={"Authorization": "Bearer key-one"})
        token = issued.json()["token"]
        with_token = await http.get("/v1/courses/stream", params={**params, "access_token": token})
        forged = token[:-1] + ("0" if token[-1] != "0" else "1")
        tampered = await http.get("/v1/courses/stream", params={**params, "access_token": forged})
        not_for_the_api = await http.get("/v1/models", params={"access_token": token})
        with anyio.fail_after(10):  # STREAM_TOKEN_TTL is 2 s
            while True:
                expired = await http.get("/v1/courses/stream", params={**params, "access_token": token})
                if expired.status_code != 200:
                    break
                await anyio.sleep(0.1)
        lived = time.time() - (issued.json()["expires_at"] - 2)
    assert without.status_code == 401
    assert issued.status_code == 200 and issued.json()["expires_in"] == 2
    assert with_token.status_code == 200 and "event: complete" in with_token.text
    assert tampered.status_code == 401 and expired.status_code == 401 and lived >= 1
    assert not_for_the_api.status_code == 401, "a stream token opens streams only"
    assert not any(token in line for line in guarded.output()), "tokens are not logged either"


@pytest.mark.anyio
async def test_the_openai_sdk_reads_a_key_refused_as_an_authentication_error(guarded: ServerProcess) -> None:
    async with openai.AsyncOpenAI(base_url=f"{guarded.url}/v1", api_key="key-one", max_retries=0) as sdk:
        assert (await sdk.models.list()).data[0].id == "course-generator"
    async with openai.AsyncOpenAI(base_url=f"{guarded.url}/v1", api_key="nope", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            await sdk.models.list()
    assert not any("key-one" in line for line in guarded.output()), "keys are never logged"
