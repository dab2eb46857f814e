"""A job cannot reach past its own capture: threads it leaves, ``vars(sys)``, ``sys.stdout.buffer``, logging.

Each test is a reproduced escape, against a real server with the jobs of ``tests/isolation_jobs.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import anyio
import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.server import ROOT, ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

JOBS = ",".join(f"{name}=tests.isolation_jobs:{name}"
                for name in ("leaves_threads", "swaps_sys_dict", "counts", "writes_bytes", "configures_logging",
                                  "imports_fresh"))


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    env = {"JOBS": JOBS, "PYTHONPATH": str(ROOT), "ECHO_JOB_OUTPUT": "0", "MAX_CONCURRENT_JOBS": "8",
           "MAX_QUEUED_JOBS": "0"}
    with ServerProcess(env) as running:
        yield running


async def progress_of(http: httpx.AsyncClient, base: str, model: str, text: str) -> tuple[list[str], str]:
    """A job's printed lines and its terminal event's name, read through the browser face."""
    lines: list[str] = []
    async with aconnect_sse(http, "GET", f"{base}/v1/courses/stream",
                            params={"model": model, "subject": text}) as source:
        async for event in source.aiter_sse():
            if event.event == "progress":
                lines.extend(event.data.splitlines())
            elif event.event in ("complete", "error"):
                return lines, event.event
    raise AssertionError("the stream ended without a terminal event")


async def test_replacing_sys_stdout_through_vars_takes_no_other_jobs_lines(server: ServerProcess) -> None:
    mine, theirs = secrets.token_hex(4), secrets.token_hex(4)
    results: dict[str, tuple[list[str], str]] = {}

    async def run(model: str, token: str) -> None:
        results[model] = await progress_of(http, server.url, model, token)

    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(run, "swaps_sys_dict", mine)
                group.start_soon(run, "counts", theirs)
    counted, end = results["counts"]
    assert end == "complete"
    assert counted == [f"count {theirs} {i}" for i in range(200)], "every line of the other job, and only those"
    assert not any(theirs in line for line in results["swaps_sys_dict"][0])


async def test_bytes_written_to_sys_stdout_buffer_reach_the_jobs_stream(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(30):
            lines, end = await progress_of(http, server.url, "writes_bytes", token)
    assert end == "complete" and f"bytes {token}" in lines
    assert not any(f"bytes {token}" in line for line in server.output()), "not on the server's console"


async def test_a_job_imports_modules_nobody_imported_before(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(30):
            async with aconnect_sse(http, "GET", f"{server.url}/v1/courses/stream",
                                    params={"model": "imports_fresh", "subject": token}) as source:
                events = [(event.event, event.data.strip()) async for event in source.aiter_sse()
                          if event.event in ("progress", "content", "error")]
    assert ("progress", f"imported fresh_{token}") in events
    assert ("content", "42 set 42") in events, events


async def test_a_jobs_logging_basicconfig_leaves_the_servers_logging_alone(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(30):
            lines, end = await progress_of(http, server.url, "configures_logging", token)
            before = len(server.output())
            after_lines, after_end = await progress_of(http, server.url, "counts", secrets.token_hex(4))
            while not any("path=/v1/courses/stream" in line for line in server.output()[before:]):
                await anyio.sleep(0.05)  # the access log line of the second stream
    assert end == "complete" and after_end == "complete" and len(after_lines) == 200
    assert any(token in line for line in lines), "the job's own records are in its stream"
    console = server.output()[before:]
    assert not any(line.startswith("JOBLOG") for line in console), "the job's format is not the server's"
    assert not any("sse_starlette" in line or "chunk" in line.lower() for line in console), console[:5]


async def test_threads_a_job_leaves_behind_hold_its_place(server: ServerProcess) -> None:
    def stuck(metrics: str) -> float:
        return float(next(line for line in metrics.splitlines()
                          if line.startswith("course_stream_jobs_stuck")).split()[-1])

    body = {"model": "counts", "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(90):
            for _ in range(8):  # each job returns at once; its 50 threads sleep on for 9 s
                _, end = await progress_of(http, server.url, "leaves_threads", "9")
                assert end == "complete"
            refused = await http.post(f"{server.url}/v1/chat/completions", json=body)
            while stuck((await http.get(f"{server.url}/metrics")).text) < 1:
                await anyio.sleep(0.2)  # counted as stuck once they outlive the job by 5 s
            while (freed := await http.post(f"{server.url}/v1/chat/completions", json=body)).status_code != 200:
                await anyio.sleep(0.2)  # once the threads are gone, the places are free again
            # The eight jobs' threads end one job after another (a busy machine spreads them out).
            while stuck((await http.get(f"{server.url}/metrics")).text) != 0:
                await anyio.sleep(0.2)
    assert refused.status_code == 429, "eight places held by leftover threads: no ninth job at once"
    assert freed.json()["choices"][0]["message"]["content"] == "counted"
