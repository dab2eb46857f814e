"""Jobs that misbehave (ignore cancellation, return what JSON cannot hold, fail) and what
clients and operators see of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from tests.helpers import metric, post_json, wait_for
from tests.misbehaving_jobs import start_server
from tests.server import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def jobs_server(default_kb: Path) -> Iterator[ServerProcess]:
    env = {"KNOWLEDGE_BASE": str(default_kb), "MAX_CONCURRENT_JOBS": "2", "MAX_QUEUED_JOBS": "0",
           "HEARTBEAT_INTERVAL": "0.5"}
    with start_server(env) as running:
        yield running


def test_a_result_json_cannot_hold_still_ends_every_stream_with_its_final_event(jobs_server: ServerProcess) -> None:
    url = jobs_server.url
    for kind in ("values", "circular"):
        created = post_json(f"{url}/v1/jobs", {"model": "unencodable", "input": kind})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        with httpx.Client(timeout=10) as http, connect_sse(http, "GET", f"{url}/v1/jobs/{job_id}/events") as source:
            events = [(sse.event, sse.data) for sse in source.iter_sse()]
        assert events[-1][0] == "complete", events
        described = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10)
        assert described.status_code == 200, described.text
        result = described.json()["result"]
        if kind == "values":
            assert result["when"] == "2024-01-02 03:04:05" and result["tags"] == "{'a'}"
        else:
            assert "not representable as JSON" in result["loop"]
    body = {"model": "unencodable", "stream": True, "messages": [{"role": "user", "content": "values"}]}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=10) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


def test_failures_log_as_warnings_and_declined_courses_not_as_courses(jobs_server: ServerProcess) -> None:
    url = jobs_server.url
    failed = post_json(f"{url}/v1/chat/completions", {"model": "fails", "messages": [{"role": "user", "content": "-"}]})
    assert failed.status_code == 500
    wait_for(lambda: any("WARNING" in line and "model=fails outcome=failed reason=job_error" in line
                         for line in jobs_server.output()), "the failure was not logged as a warning")
    declined = post_json(f"{url}/v1/chat/completions",
                         {"model": "course-generator", "messages": [{"role": "user", "content": "hello there"}]},
                         timeout=60)
    assert declined.status_code == 200, declined.text
    wait_for(lambda: any("model=course-generator outcome=declined reason=complete" in line
                         for line in jobs_server.output()), "a declined course logged like a course")


# Last: it leaves both places taken by a thread that never ends.
def test_a_thread_that_ignores_cancellation_keeps_its_place_until_it_really_ends(jobs_server: ServerProcess) -> None:
    url = jobs_server.url
    threads_before = len(list(Path(f"/proc/{jobs_server.process.pid}/task").iterdir()))
    stuck = post_json(f"{url}/v1/jobs", {"model": "sleeper", "input": "1000"}).json()["id"]
    napping = post_json(f"{url}/v1/jobs", {"model": "sleeper", "input": "3"}).json()["id"]
    for job_id in (stuck, napping):
        stopped = httpx.delete(f"{url}/v1/jobs/{job_id}", timeout=10)
        assert stopped.json()["status"] == "cancelled"
    # Both ended for their clients, but their threads run on: both places stay taken.
    refused = post_json(f"{url}/v1/jobs", {"model": "sleeper", "input": "0"})
    assert refused.status_code == 429, refused.text
    assert metric(jobs_server, "course_stream_jobs_running") == 2
    # The nap ends by itself: its place is free again, and only then.
    wait_for(lambda: metric(jobs_server, "course_stream_jobs_running") == 1, "the nap's place was never freed")
    wait_for(lambda: metric(jobs_server, "course_stream_jobs_stuck") == 1, "the stuck job was not counted")
    wait_for(lambda: any(f"job {stuck} is stuck" in line for line in jobs_server.output()), "not logged")
    for _ in range(10):  # more requests do not add threads: one place, taken and given back
        assert post_json(f"{url}/v1/jobs", {"model": "sleeper", "input": "0"}).status_code == 201
        wait_for(lambda: metric(jobs_server, "course_stream_jobs_running") == 1, "a quick job kept its place")
    threads_after = len(list(Path(f"/proc/{jobs_server.process.pid}/task").iterdir()))
    assert threads_after <= threads_before + 3, (threads_before, threads_after)
    assert post_json(f"{url}/v1/jobs", {"model": "sleeper", "input": "1000"}).status_code == 201
    assert post_json(f"{url}/v1/jobs", {"model": "sleeper", "input": "0"}).status_code == 429
