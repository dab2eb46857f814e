"""Resumable streams: jobs that outlive a dropped connection, against a real server."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.helpers import ticker
from tests.proxy import CuttingProxy
from tests.server import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TERMINAL = {"complete", "error"}


@pytest.fixture(scope="module")
def resume_server(default_kb: Path) -> Iterator[ServerProcess]:
    env = {
        "KNOWLEDGE_BASE": str(default_kb),
        "HEARTBEAT_INTERVAL": "0.2",
        "ECHO_JOB_OUTPUT": "1",
        "JOB_GRACE_PERIOD": "1",
        "JOB_RETENTION": "3",
        "JOB_LOG_EVENTS": "40",
        "SSE_RETRY_MS": "200",
    }
    with ServerProcess(env) as running:
        yield running


async def create_job(http: httpx.AsyncClient, base: str, model: str, text: str) -> dict[str, Any]:
    response = await http.post(f"{base}/v1/jobs", json={"model": model, "input": text})
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    return job


async def read_resuming(
    http: httpx.AsyncClient, url: str, last_id: str | None = None, limit: int = 500
) -> tuple[list[ServerSentEvent], int]:
    """Read a stream like a browser: reconnect with Last-Event-ID until its end (or a 204)."""
    events: list[ServerSentEvent] = []
    reconnects = 0
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            async with aconnect_sse(http, "GET", url, headers=headers) as source:
                if source.response.status_code == 204:
                    return events, reconnects
                assert source.response.status_code == 200
                async for event in source.aiter_sse():
                    if event.event == "message" and not event.data:
                        # A heartbeat comment: httpx-sse dispatches it as an empty event once
                        # an id was seen (browsers do not, as the SSE spec says). Skip it.
                        continue
                    events.append(event)
                    last_id = event.id or last_id
                    if event.event in TERMINAL:
                        return events, reconnects
        except httpx.TransportError:
            pass  # cut: come back with the last id received
        reconnects += 1
        assert reconnects < limit, "never finished"


def progress(events: list[ServerSentEvent]) -> str:
    return "".join(e.data for e in events if e.event == "progress")


def seqs(events: list[ServerSentEvent]) -> list[int]:
    """The job's sequence numbers, one per job event (a ``content`` event's ``html`` companion
    carries ``<job>:<seq>``, the content itself ``<job>:<seq>.md``)."""
    return [int(e.id.split(":")[1]) for e in events if e.event not in ("content", "")]


@pytest.mark.parametrize("model", ["ticker", "course-generator"])
async def test_dropped_mid_event_and_resumed_equals_an_uninterrupted_read(
    resume_server: ServerProcess, model: str
) -> None:
    text = ticker(30, 0.03, secrets.token_hex(4)) if model == "ticker" else "context managers"
    # The first connections through the proxy are cut at different depths: mid-event, mid-line.
    with CuttingProxy(resume_server.port, cut_after=[700, 3000, 9000]) as proxy:
        async with httpx.AsyncClient(timeout=20) as http:
            job = await create_job(http, resume_server.url, model, text)
            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    results: dict[str, tuple[list[ServerSentEvent], int]] = {}

                    async def read(name: str, base: str) -> None:
                        results[name] = await read_resuming(http, f"{base}{job['events_url']}")

                    tg.start_soon(read, "direct", resume_server.url)
                    tg.start_soon(read, "cut", proxy.url)
    direct, _ = results["direct"]
    cut, reconnects = results["cut"]
    assert reconnects >= 2 and proxy.cuts >= 2, "the stream really was cut"
    assert progress(cut) == progress(direct), "the same progress, exactly once, in order"
    assert seqs(cut) == sorted(set(seqs(cut))) == seqs(direct)
    assert cut[-1].event == "complete" and json.loads(cut[-1].data) == json.loads(direct[-1].data)


async def test_the_course_route_resumes_the_same_job_on_reconnect(resume_server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    url = f"/v1/courses/stream?model=ticker&subject={ticker(20, 0.03, token)}"
    with CuttingProxy(resume_server.port, cut_after=[600, 1500, 2500]) as proxy:
        async with httpx.AsyncClient(timeout=20) as http:
            with anyio.fail_after(30):
                events, reconnects = await read_resuming(http, f"{proxy.url}{url}")
    assert reconnects >= 2
    assert len({e.id.split(":")[0] for e in events}) == 1, "one job, not one per reconnect"
    lines = progress(events).splitlines()
    assert [line.split()[1] for line in lines] == [str(i) for i in range(20)]
    started = [line for line in resume_server.output() if f" {token}" in line and line.split()[-3] == "0"]
    assert len(started) == 1, "the job ran once"


async def test_an_id_older_than_the_log_gets_an_explicit_gap(resume_server: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        # Lines 5 ms apart, so each is its own event (lines printed faster are batched).
        job = await create_job(http, resume_server.url, "ticker", ticker(150, 0.005, "gap"))
        with anyio.fail_after(20):
            while (await http.get(f"{resume_server.url}/v1/jobs/{job['id']}")).json()["status"] == "running":
                await anyio.sleep(0.02)
            info = (await http.get(f"{resume_server.url}/v1/jobs/{job['id']}")).json()
            events, _ = await read_resuming(http, f"{resume_server.url}{job['events_url']}", f"{job['id']}:1")
    assert info["events"] > 41
    gap = events[0]
    assert gap.event == "gap"
    lost = json.loads(gap.data)
    assert lost["first"] == 2 and lost["last"] == info["events"] - 40, "the log keeps the last 40 events"
    assert "no longer kept" in lost["message"]
    assert seqs(events[1:]) == list(range(info["events"] - 39, info["events"] + 1))


async def test_a_finished_job_answers_a_reconnect_with_the_rest_then_204(resume_server: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        job = await create_job(http, resume_server.url, "ticker", ticker(3, 0.0, "done"))
        with anyio.fail_after(20):
            events, _ = await read_resuming(http, f"{resume_server.url}{job['events_url']}")
            last = events[-1].id
            again = await http.get(f"{resume_server.url}{job['events_url']}", headers={"Last-Event-ID": last})
            by_query = await http.get(f"{resume_server.url}{job['events_url']}", params={"last_event_id": last})
            earlier, _ = await read_resuming(
                http, f"{resume_server.url}{job['events_url']}", f"{job['id']}:{seqs(events)[-2]}"
            )
            gone = await http.get(
                f"{resume_server.url}/v1/courses/stream", headers={"Last-Event-ID": "job_0123456789abcdef:3"}
            )
    assert again.status_code == 204 and by_query.status_code == 204
    assert [e.event for e in earlier] == ["complete"]
    assert gone.status_code == 204, "a job that is gone: the browser stops reconnecting"


async def test_a_job_without_readers_is_cancelled_after_the_grace_period(resume_server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    async with httpx.AsyncClient(timeout=20) as http:
        job = await create_job(http, resume_server.url, "ticker", ticker(10_000, 0.05, token))
        url = f"{resume_server.url}{job['events_url']}"
        with anyio.fail_after(20):
            # Away for less than the grace period (1 s): the job carries on.
            async with aconnect_sse(http, "GET", url) as source:
                async for event in source.aiter_sse():
                    last = event.id
                    break
            await anyio.sleep(0.5)
            assert (await http.get(f"{resume_server.url}/v1/jobs/{job['id']}")).json()["status"] == "running"
            async with aconnect_sse(http, "GET", url, headers={"Last-Event-ID": last}) as source:
                async for event in source.aiter_sse():
                    assert int(event.id.split(":")[1]) == int(last.split(":")[1]) + 1
                    break
            # Away for longer than the grace period: stopped, and its status says why.
            left = time.monotonic()
            while (info := (await http.get(f"{resume_server.url}/v1/jobs/{job['id']}")).json())["status"] == "running":
                await anyio.sleep(0.05)
            away = time.monotonic() - left
    assert info["status"] == "cancelled" and info["reason"] == "abandoned" and away >= 1 - 0.1
    ticks = [int(line.split()[2]) for line in resume_server.output() if line.endswith(f" {token}")]
    assert max(ticks) <= int(last.split(":")[1]) + 4 / 0.05, "it stopped, about when it was abandoned"


async def test_delete_cancels_and_unknown_jobs_are_404(resume_server: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        job = await create_job(http, resume_server.url, "ticker", ticker(10_000, 0.05, "del"))
        deleted = await http.delete(f"{resume_server.url}/v1/jobs/{job['id']}")
        missing = await http.get(f"{resume_server.url}/v1/jobs/job_ffffffffffffffff")
        bad_input = await http.post(f"{resume_server.url}/v1/jobs", json={"model": "ticker", "input": 3})
        bad_id = await http.get(f"{resume_server.url}{job['events_url']}", headers={"Last-Event-ID": "nonsense"})
    assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"
    assert bad_input.status_code == 400 and bad_input.json()["error"]["param"] == "input"
    assert bad_id.status_code == 400 and "an event id this server sent" in bad_id.json()["error"]["message"]
    assert "'nonsense'" in bad_id.json()["error"]["message"]


async def test_finished_jobs_expire(resume_server: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        job = await create_job(http, resume_server.url, "course-generator", "json")
        with anyio.fail_after(20):
            await read_resuming(http, f"{resume_server.url}{job['events_url']}")
            done = (await http.get(f"{resume_server.url}/v1/jobs/{job['id']}")).json()
            # JOB_RETENTION is 3 s: the job is dropped then (the deadline allows for a busy machine).
            while (await http.get(f"{resume_server.url}/v1/jobs/{job['id']}")).status_code != 404:
                await anyio.sleep(0.1)
            gone_after = time.time() - done["finished"]
    assert done["status"] == "complete" and done["content"].startswith("# json")
    assert "markdown" not in done["result"], "the course once, as content"
    assert gone_after >= 3 - 0.5


async def test_many_jobs_and_readers_at_once(resume_server: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as http:
        jobs = [
            await create_job(http, resume_server.url, "ticker", ticker(15, 0.02, f"many{i}")) for i in range(10)
        ]
        results: dict[tuple[int, int], list[ServerSentEvent]] = {}

        async def read(j: int, r: int) -> None:
            results[(j, r)], _ = await read_resuming(http, f"{resume_server.url}{jobs[j]['events_url']}")

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for j in range(10):
                    for r in range(5):
                        tg.start_soon(read, j, r)
    for j in range(10):
        first = results[(j, 0)]
        lines = progress(first).splitlines()
        assert [line.split()[1] for line in lines] == [str(i) for i in range(15)]
        assert all(line.endswith(f" many{j}") for line in lines)
        for r in range(1, 5):
            assert [(e.event, e.id, e.data) for e in results[(j, r)]] == [(e.event, e.id, e.data) for e in first]
