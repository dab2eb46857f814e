"""The shipped nginx configuration in front of a real server: buffering, timeouts, shutdown, metrics."""

from __future__ import annotations

import json
import re
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.nginx import NginxProcess
from tests.server import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TICK = re.compile(r"tick (\d+) (\d+) (\S+)")


def chat_body(ticks: int, interval: float, token: str) -> dict[str, object]:
    content = json.dumps({"ticks": ticks, "interval": interval, "token": token})
    return {"model": "ticker", "stream": True, "messages": [{"role": "user", "content": content}]}


@pytest.fixture(scope="module")
def proxied(server: ServerProcess) -> Iterator[NginxProcess]:
    with NginxProcess(server.port) as nginx:
        yield nginx


async def test_no_buffering_each_line_arrives_as_it_is_printed(proxied: NginxProcess) -> None:
    token = secrets.token_hex(4)
    delays: dict[str, list[float]] = {"chat": [], "courses": []}

    async def read(route: str, response: httpx.Response) -> None:
        async for line in response.aiter_lines():
            now = time.time_ns()
            for match in TICK.finditer(line):
                if match.group(3).rstrip("\\n").startswith(token):
                    delays[route].append((now - int(match.group(2))) / 1e6)

    with anyio.fail_after(20):
        async with httpx.AsyncClient(timeout=10) as http:
            chat = http.stream("POST", f"{proxied.url}/v1/chat/completions", json=chat_body(10, 0.1, token))
            params = {"model": "ticker", "subject": json.dumps({"ticks": 10, "interval": 0.1, "token": token})}
            courses = http.stream("GET", f"{proxied.url}/v1/courses/stream", params=params)
            async with chat as chat_response, courses as courses_response:
                assert "gzip" not in chat_response.headers.get("content-encoding", "")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read, "chat", chat_response)
                    tg.start_soon(read, "courses", courses_response)
    for route, values in delays.items():
        assert len(values) == 10, route
        # Lines are printed 100 ms apart over 0.9 s. A buffering proxy would hold them until its
        # buffer fills or the stream ends (the first line ~900 ms late); here they arrive as printed.
        # The bounds are loose because the machine may be busy: `make bench` measures latency.
        assert sorted(values)[len(values) // 2] < 50 and max(values) < 500, f"{route}: {values}"


def run_silent_job(nginx: NginxProcess) -> tuple[bool, float]:
    """A ticker silent for 5 s between its two lines, through nginx: (completed, seconds)."""
    started = time.monotonic()
    completed = False
    try:
        with httpx.stream(
            "POST", f"{nginx.url}/v1/chat/completions", json=chat_body(2, 5.0, "silent"), timeout=20
        ) as response:
            for line in response.iter_lines():
                if line == "data: [DONE]":
                    completed = True
    except httpx.HTTPError:
        pass  # cut by the proxy
    return completed, time.monotonic() - started


@pytest.mark.parametrize(("heartbeat", "survives"), [("0.5", True), ("0", False)])
def test_heartbeats_keep_a_silent_stream_alive_through_nginx(
    default_kb: Path, heartbeat: str, survives: bool
) -> None:
    # nginx drops a stream silent for 2 s; the job is silent for 5 s.
    with ServerProcess({"KNOWLEDGE_BASE": str(default_kb), "HEARTBEAT_INTERVAL": heartbeat}) as server:
        with NginxProcess(server.port, read_timeout="2s") as nginx:
            completed, seconds = run_silent_job(nginx)
    assert completed is survives
    if not survives:
        assert seconds < 4.5, "cut by nginx's read timeout, before the job's second line"


def test_sigterm_during_20_open_streams(default_kb: Path) -> None:
    env = {"KNOWLEDGE_BASE": str(default_kb), "HEARTBEAT_INTERVAL": "1", "SHUTDOWN_GRACE_PERIOD": "3"}
    server = ServerProcess(env, args=["--timeout-graceful-shutdown", "5"])
    with server, NginxProcess(server.port) as nginx:
        results: dict[str, str] = {}

        async def open_streams() -> None:
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50)) as http:
                ready = 0
                all_ready = anyio.Event()

                async def chat(i: int) -> None:
                    nonlocal ready
                    last = ""
                    async with http.stream(
                        "POST", f"{nginx.url}/v1/chat/completions", json=chat_body(100_000, 0.05, f"c{i}")
                    ) as response:
                        async for line in response.aiter_lines():
                            if "tick 0 " in line:
                                ready += 1
                                if ready == 20:
                                    all_ready.set()
                            if line.startswith("data: "):
                                last = line
                    results[f"chat{i}"] = last  # the iteration ended cleanly: no exception

                async def courses(i: int) -> None:
                    nonlocal ready
                    params = {"model": "ticker", "subject": json.dumps({"ticks": 100_000, "interval": 0.05})}
                    last_event, last_data = "", ""
                    async with http.stream("GET", f"{nginx.url}/v1/courses/stream", params=params) as response:
                        async for line in response.aiter_lines():
                            if line.startswith("data: tick 0 "):
                                ready += 1
                                if ready == 20:
                                    all_ready.set()
                            if line.startswith("event: "):
                                last_event = line
                            elif line.startswith("data: ") and last_event == "event: error":
                                last_data = line
                    results[f"courses{i}"] = f"{last_event}|{last_data}"

                with anyio.fail_after(30):
                    async with anyio.create_task_group() as tg:
                        for i in range(10):
                            tg.start_soon(chat, i)
                            tg.start_soon(courses, i)
                        await all_ready.wait()
                        server.process.send_signal(signal.SIGTERM)
                        signalled.append(time.monotonic())

        signalled: list[float] = []
        anyio.run(open_streams)
        exit_code = server.process.wait(timeout=15)
        exited_after = time.monotonic() - signalled[0]
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so the exit status says
    # "stopped by SIGTERM" (which systemd and other supervisors count as a clean stop).
    assert exit_code in (0, -signal.SIGTERM)
    assert exited_after < 5 + 1, "the process exits within the configured bound"
    assert len(results) == 20
    for name, last in results.items():
        if name.startswith("chat"):
            error = json.loads(last.removeprefix("data: "))["error"]
            assert error["code"] == "server_shutting_down" and "shutting down" in error["message"], name
        else:
            event, data = last.split("|", 1)
            assert event == "event: error" and json.loads(data.removeprefix("data: "))["kind"] == "shutdown", name
    log = "\n".join(server.output())
    assert log.count("outcome=cancelled") == 20 and log.count("reason=shutdown") == 20, "every job was stopped"


def test_metrics_count_what_happened(default_kb: Path) -> None:
    env = {"KNOWLEDGE_BASE": str(default_kb), "HEARTBEAT_INTERVAL": "0.2"}
    with ServerProcess(env) as server, NginxProcess(server.port) as nginx:
        for i in range(3):  # three complete streams, silent long enough for heartbeats
            with httpx.stream("POST", f"{nginx.url}/v1/chat/completions", json=chat_body(2, 0.5, f"m{i}"),
                              timeout=10) as response:
                assert [line for line in response.iter_lines() if line][-1] == "data: [DONE]"
        with httpx.stream("POST", f"{nginx.url}/v1/chat/completions", json=chat_body(1000, 0.05, "gone"),
                          timeout=10) as response:
            for line in response.iter_lines():
                if "tick 2 " in line:
                    break  # a client that leaves
        bad = httpx.post(f"{nginx.url}/v1/chat/completions", content=b"{not json", timeout=10,
                         headers={"Content-Type": "application/json"})
        assert bad.status_code == 400
        deadline = time.monotonic() + 10
        while True:  # the departed client's stream is counted once its job has noticed
            text = httpx.get(f"{nginx.url}/metrics", timeout=10).text
            if "course_stream_client_disconnects_total{route=\"chat\"} 1.0" in text:
                break
            assert time.monotonic() < deadline, "the departed client was never counted"
            time.sleep(0.05)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("course_stream_events_sent_total", route="chat", kind="done") == 3
    assert value("course_stream_events_sent_total", route="chat", kind="finish") == 3
    assert value("course_stream_events_sent_total", route="chat", kind="progress") >= 3 * 2 + 3
    assert value("course_stream_client_disconnects_total", route="chat") == 1
    assert value("course_stream_job_duration_seconds_count", model="ticker", outcome="complete") == 3
    assert value("course_stream_job_duration_seconds_count", model="ticker", outcome="cancelled") == 1
    assert value("course_stream_heartbeats_sent_total", route="chat") >= 3  # 0.5 s silences, 0.2 s heartbeats
    assert value("course_stream_time_to_first_event_seconds_count", route="chat") == 4
    assert value("course_stream_active_streams", route="chat") == 0
    assert value("course_stream_jobs_running") == 0
    assert value("course_stream_event_bytes_sent_total", route="chat") > 1000
    assert value("course_stream_http_requests_total", method="POST", status="400") == 1


def test_an_oversized_body_gets_the_services_own_error_through_nginx(proxied: NginxProcess) -> None:
    # nginx's own limit sits above MAX_BODY_BYTES, so the client gets an error body it can read.
    body = {"model": "ticker", "messages": [{"role": "user", "content": "x" * (1536 * 1024)}]}
    response = httpx.post(f"{proxied.url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
