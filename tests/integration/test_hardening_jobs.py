"""Jobs that misbehave (ignore cancellation, return what JSON cannot hold, fail) and what
operators see of them; the jobs themselves, served by ``make_app`` for every hardening test."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from starlette.applications import Starlette

from tests.server import ROOT, ServerProcess

pytestmark = pytest.mark.integration


# -- the jobs ------------------------------------------------------------------------------


def _echo(text: str) -> str:
    print(text)
    return "done"


def _echo_json(text: str) -> str:
    """Prints the JSON string it is given, decoded: the way to make a job print a lone surrogate."""
    print(json.loads(text))
    return "done"


def _sleeper(text: str) -> str:
    time.sleep(float(text))  # blocking on purpose: it ignores cancellation
    return "woke"


def _unencodable(text: str) -> dict[str, Any]:
    if text == "circular":
        loop: list[Any] = []
        loop.append(loop)
        return {"markdown": "circular", "loop": loop}
    return {"markdown": "a result", "when": datetime.datetime(2024, 1, 2, 3, 4, 5), "tags": {"a"}}


def _paced(text: str) -> Iterator[dict[str, Any]]:
    """``lines`` lines of 1,000 characters, one every ``pause`` seconds."""
    import capture

    spec = json.loads(text)
    for i in range(spec["lines"]):
        print(f"{i:06d} " + "x" * 993)
        capture.sleep(spec["pause"])
    yield {"type": "complete", "results": {}}


def _fails(text: str) -> str:
    raise RuntimeError("this job fails on purpose")


def make_app() -> Starlette:
    """The service, with the test jobs above as models."""
    import functools

    import service
    from api.models import Model

    app = service.create_app()
    jobs = {
        "echo": _echo,
        "echo-json": _echo_json,
        "sleeper": _sleeper,
        "unencodable": _unencodable,
        "paced": _paced,
        "fails": _fails,
    }
    for name, job in jobs.items():
        def prepare(text: str, job: Any = job) -> Any:
            return functools.partial(job, text)

        app.state.runtime.models[name] = Model(name, "a test job", "embedded", prepare)
    return app


def start_server(env: dict[str, str]) -> ServerProcess:
    """A real server with the test jobs (``--factory``)."""
    return ServerProcess(env, app="tests.integration.test_hardening_jobs:make_app", args=["--factory"])





def post_json(url: str, body: Any, **kwargs: Any) -> httpx.Response:
    """POST ``body`` as JSON written by the standard library (lone surrogates as escapes)."""
    return httpx.post(url, content=json.dumps(body).encode(), headers={"content-type": "application/json"},
                      timeout=kwargs.pop("timeout", 10), **kwargs)


def wait_for(condition: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def metric(server: ServerProcess, name: str) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


# -- the tests -----------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("name", "value"), [("MAX_CONCURRENT_JOBS", "many"), ("KNOWLEDGE_BASE", "/no/such/directory/kb.sqlite3")]
)
def test_a_bad_setting_stops_startup_with_one_line(name: str, value: str) -> None:
    result = subprocess.run([sys.executable, "-c", "import service"], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", name: value}, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"course-stream: bad setting: {name}:"), result.stderr
    assert not Path("/no/such/directory").exists()


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
