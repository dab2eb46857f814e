"""Limits and admission, against a real server: places in line, 429 beyond, the run-time limit,
the size of progress events."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import openai
import pytest

from tests.helpers import chat, ticker
from tests.server import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture(scope="module")
def limited(default_kb: Path) -> Iterator[ServerProcess]:
    env = {"KNOWLEDGE_BASE": str(default_kb), "MAX_CONCURRENT_JOBS": "2", "MAX_QUEUED_JOBS": "3", "JOB_TIMEOUT": "3",
           "MAX_EVENT_CHARS": "256", "HEARTBEAT_INTERVAL": "0.5"}
    with ServerProcess(env) as running:
        yield running


async def test_admission_positions_in_order_everyone_served_then_429(limited: ServerProcess) -> None:
    reasoning: dict[int, str] = {}
    finished: dict[int, str | None] = {}
    rejected: list[httpx.Response] = []

    admitted = [anyio.Event() for _ in range(5)]

    async def client(i: int) -> None:
        async with openai.AsyncOpenAI(base_url=f"{limited.url}/v1", api_key="-", max_retries=0) as sdk:
            stream = await sdk.chat.completions.create(
                model="ticker", messages=[{"role": "user", "content": ticker(3, 0.3, f"a{i}")}], stream=True
            )
            admitted[i].set()  # its response started: it has its place (running or in line)
            text = []
            async for chunk in stream:
                if chunk.choices:
                    text.append((chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or "")
                    finished[i] = chunk.choices[0].finish_reason
            reasoning[i] = "".join(text)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for i in range(5):  # 2 run, 3 wait: one at a time so that the order is known
                tg.start_soon(client, i)
                await admitted[i].wait()
            async with httpx.AsyncClient(timeout=10) as http:
                one_more = chat("ticker", ticker(1, 0))
                rejected.append(await http.post(f"{limited.url}/v1/chat/completions", json=one_more))
    for i in range(5):
        assert finished[i] == "stop", f"client {i} was served"
        ahead = [int(n) for n in re.findall(r"Waiting for a free worker: (\d+) ahead", reasoning[i])]
        if i < 2:
            assert ahead == []
        else:
            assert ahead[0] == i - 2 and ahead == sorted(set(ahead), reverse=True), (i, ahead)
        assert len(re.findall(rf"tick \d+ \d+ a{i}\n", reasoning[i])) == 3
    busy = rejected[0]
    assert busy.status_code == 429 and busy.headers["retry-after"] == "5"
    assert busy.json()["error"]["code"] == "server_overloaded" and "busy" in busy.json()["error"]["message"]


async def test_a_job_over_the_run_time_limit_is_stopped_with_a_clear_error(limited: ServerProcess) -> None:
    with anyio.fail_after(20):
        async with openai.AsyncOpenAI(base_url=f"{limited.url}/v1", api_key="-", max_retries=0) as sdk:
            stream = await sdk.chat.completions.create(
                model="ticker", messages=[{"role": "user", "content": ticker(1000, 0.1)}], stream=True
            )
            with pytest.raises(openai.APIError) as info:
                async for _ in stream:
                    pass
    assert "ran longer than the limit of 3 s" in info.value.message


async def test_progress_events_respect_the_size_limit(limited: ServerProcess) -> None:
    sizes, text = [], []
    with anyio.fail_after(20):
        async with httpx.AsyncClient(timeout=20) as http:
            async with http.stream("POST", f"{limited.url}/v1/chat/completions",
                                   json=chat("course-generator", "context managers")) as response:
                async for line in response.aiter_lines():
                    if '"reasoning_content"' in line:
                        part = json.loads(line[6:])["choices"][0]["delta"]["reasoning_content"]
                        sizes.append(len(part))
                        text.append(part)
    assert max(sizes) <= 256
    assert "PHASE 3: COURSE GENERATION\n" in "".join(text)
