"""SIGTERM with streams running and streams waiting for a place: every one gets the farewell,
no waiting job starts once shutdown began, and the process exits within its bound."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import anyio
import httpx
import pytest

from tests.server import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

RUNNING, WAITING = 64, 36
GRACE = 5.0  # SHUTDOWN_GRACE_PERIOD
EXIT_BOUND = GRACE + 10.0  # generous: the machine may be busy


@pytest.mark.parametrize("route", ["chat", "courses"])
async def test_sigterm_says_goodbye_to_every_stream_running_or_waiting(default_kb: Path, route: str) -> None:
    env = {"KNOWLEDGE_BASE": str(default_kb), "MAX_CONCURRENT_JOBS": str(RUNNING), "MAX_QUEUED_JOBS": "100",
           "SHUTDOWN_GRACE_PERIOD": str(GRACE), "HEARTBEAT_INTERVAL": "1"}
    ticks = json.dumps({"ticks": 100_000, "interval": 0.5})
    body = {"model": "ticker", "stream": True, "messages": [{"role": "user", "content": ticks}]}
    ends: dict[int, str] = {}
    started_late: list[int] = []
    opened = [anyio.Event() for _ in range(RUNNING + WAITING)]
    signalled = anyio.Event()

    async def client(http: httpx.AsyncClient, i: int) -> None:
        if route == "chat":
            request = http.build_request("POST", "/v1/chat/completions", json=body)
        else:
            request = http.build_request("GET", "/v1/courses/stream", params={"model": "ticker", "subject": ticks})
        response = await http.send(request, stream=True)
        try:
            assert response.status_code == 200
            opened[i].set()
            last = "cut"
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if route == "courses":
                    if '"kind"' in line and '"message"' in line:  # the error event
                        last = "server_shutting_down" if json.loads(line[6:])["kind"] == "shutdown" else line
                    elif signalled.is_set() and "A worker is free" in line:
                        started_late.append(i)
                    continue
                if line == "data: [DONE]":
                    last = "done"
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    last = str(chunk["error"]["code"])
                elif signalled.is_set() and "A worker is free" in json.dumps(chunk):
                    started_late.append(i)
            ends[i] = last
        finally:
            await response.aclose()

    with ServerProcess(env) as server:
        limits = httpx.Limits(max_connections=RUNNING + WAITING + 10)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
            with anyio.fail_after(120):
                async with anyio.create_task_group() as tg:
                    for i in range(RUNNING + WAITING):
                        tg.start_soon(client, http, i)
                    for event in opened:
                        await event.wait()
                    while True:  # every stream has its place, running or in line
                        text = (await http.get("/metrics")).text
                        if (f"course_stream_jobs_running {RUNNING}.0" in text
                                and f"course_stream_jobs_queued {WAITING}.0" in text):
                            break
                        await anyio.sleep(0.1)
                    began = time.monotonic()
                    signalled.set()
                    server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(timeout=EXIT_BOUND)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the server did not exit within {EXIT_BOUND} s of SIGTERM")
            took = time.monotonic() - began
        log = "\n".join(server.output())
    assert len(ends) == RUNNING + WAITING
    assert {i: end for i, end in ends.items() if end != "server_shutting_down"} == {}, log[-2000:]
    assert started_late == []
    assert took < EXIT_BOUND
