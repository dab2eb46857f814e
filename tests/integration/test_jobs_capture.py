"""Everything a job writes reaches its own stream, and only its own: a real server with jobs plugged in
through ``JOBS`` (``tests/jobs_capture.py``)."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.server import ROOT, ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

JOBS = ",".join(
    f"{name}=tests.jobs_capture:{name}"
    for name in ("shout", "mixed", "warns", "redirecting", "plain", "bar", "failing_thread", "child", "awaiting",
                 "async_events", "returns_json")
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    env = {"JOBS": JOBS, "PYTHONPATH": str(ROOT), "ECHO_JOB_OUTPUT": "0", "MAX_CONCURRENT_JOBS": "64"}
    with ServerProcess(env) as running:
        yield running


@dataclass
class Chat:
    reasoning: list[str] = field(default_factory=list)  # one item per chunk
    content: str = ""
    error: str | None = None
    done: bool = False

    @property
    def lines(self) -> list[str]:
        return "".join(self.reasoning).splitlines()


async def chat(client: httpx.AsyncClient, model: str, text: str, stop_at: str | None = None) -> Chat:
    """One streamed chat completion, read to its end (or until its reasoning matches the regex ``stop_at``)."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": text}]}
    result = Chat()
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                result.done = True
                break
            chunk = json.loads(line[6:])
            if "error" in chunk:
                result.error = chunk["error"]["message"]
                break
            for choice in chunk["choices"]:
                delta = choice["delta"]
                if delta.get("reasoning_content"):
                    result.reasoning.append(delta["reasoning_content"])
                if delta.get("content"):
                    result.content += delta["content"]
            if stop_at is not None and re.search(stop_at, "".join(result.reasoning)):
                break
    return result


async def named_events(client: httpx.AsyncClient, model: str, text: str) -> list[tuple[str, str]]:
    """The (event, data) pairs of one EventSource stream, to its end."""
    events: list[tuple[str, str]] = []
    kind, data = "message", []
    async with client.stream("GET", "/v1/courses/stream", params={"model": model, "subject": text}) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                events.append((kind, "\n".join(data)))
                if kind in ("complete", "error"):
                    break
                kind, data = "message", []
    return events


def http(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=60)


async def test_jobs_of_your_own_are_models_on_every_route(server: ServerProcess) -> None:
    async with http(server) as client:
        with anyio.fail_after(30):
            listed = (await client.get("/v1/models")).json()
            assert {"shout", "mixed", "ticker", "course-generator"} <= {m["id"] for m in listed["data"]}
            answer = await chat(client, "shout", "hello")
            assert answer.done and answer.content == "HELLO" and answer.lines == ["shouting hello"]
            events = await named_events(client, "shout", "there")
            assert ("progress", "shouting there\n") in events and ("content", "THERE") in events
            assert json.loads(events[-1][1])["markdown"] == "THERE"
            created = (await client.post("/v1/jobs", json={"model": "shout", "input": "again"})).json()
            while (job := (await client.get(f"/v1/jobs/{created['id']}")).json())["status"] == "running":
                await anyio.sleep(0.05)
            assert job["status"] == "complete" and job["content"] == "AGAIN"


async def test_two_jobs_one_redirecting_stdout_each_get_exactly_their_own_lines(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    async with http(server) as client, anyio.create_task_group() as tg:
        results: dict[str, Chat] = {}

        async def run(model: str) -> None:
            results[model] = await chat(client, model, token)

        with anyio.fail_after(60):
            tg.start_soon(run, "redirecting")
            tg.start_soon(run, "plain")
    redirecting, plain = results["redirecting"], results["plain"]
    assert plain.lines == [f"plain {i} {token}" for i in range(5)]
    assert redirecting.lines == [f"after {token}"]  # what it redirected stayed in its buffer...
    assert redirecting.content.splitlines() == [f"redirected {i} {token}" for i in range(5)]  # ...all of it
    assert not any(token in line for line in server.output())


async def test_fifty_jobs_writing_every_way_lose_nothing_and_get_nothing_foreign(server: ServerProcess) -> None:
    tokens = [f"t{secrets.token_hex(4)}" for _ in range(50)]
    results: dict[str, Chat] = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=httpx.Limits(max_connections=60)) as client:

        async def run(token: str) -> None:
            results[token] = await chat(client, "mixed", token)

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for token in tokens:
                    tg.start_soon(run, token)
    everyone = set(tokens)
    for token, result in results.items():
        assert result.done, result
        expected = {f"{kind} {token}" for kind in ("print", "stderr", "thread", "pool", "to_thread")}
        expected.add(f"WARNING jobs.mixed: log {token}")
        assert sorted(result.lines) == sorted(expected), result.lines
        foreign = {word for line in result.lines for word in line.split() if word in everyone} - {token}
        assert not foreign
    console = "\n".join(server.output())
    assert not any(token in console for token in tokens), console[-2000:]


async def test_warnings_reach_the_stream_and_ansi_escapes_do_not(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    async with http(server) as client:
        with anyio.fail_after(30):
            result = await chat(client, "warns", token)
    text = "".join(result.reasoning)
    assert f"UserWarning: warn {token}" in text
    assert f"green {token}\n" in text and "\x1b" not in text
    assert not any(token in line for line in server.output())


async def test_a_ten_thousand_step_bar_is_a_bounded_number_of_updates_and_its_final_state(
    server: ServerProcess,
) -> None:
    async with http(server) as client:
        with anyio.fail_after(60):
            result = await chat(client, "bar", "10000")
            events = await named_events(client, "bar", "10000")
    assert result.done and "\r" not in "".join(result.reasoning) and "\x1b" not in "".join(result.reasoning)
    bar_lines = [line for line in result.lines if "/10000" in line]
    # Its first state, at most one update per UPDATE_INTERVAL (0.25 s) while it runs, its final state.
    complete = json.loads(events[-1][1])  # the EventSource run's complete event
    assert 2 <= len(bar_lines) <= 2 + 40, bar_lines  # the job takes well under 10 s
    print(f"bar: {len(bar_lines)} lines on the OpenAI route; complete: {complete}")
    assert bar_lines[-1] == "100%|##########| 10000/10000"
    assert result.lines[0] == "starting" and result.lines[-1] == "finished"
    progress = "".join(data for kind, data in events if kind.startswith("progress")).splitlines()
    assert 2 <= len([line for line in progress if "/10000" in line]) <= 2 + 40
    assert progress[-2:] == ["100%|##########| 10000/10000", "finished"]
    print(f"bar: {len(events)} events on the EventSource route")


async def test_an_exception_in_a_jobs_thread_fails_the_job_unless_handled(server: ServerProcess) -> None:
    async with http(server) as client:
        with anyio.fail_after(30):
            failed = await chat(client, "failing_thread", "raise")
            handled = await chat(client, "failing_thread", "handled")
    assert failed.error == "Exception in thread worker: ValueError: boom in the thread"
    assert "Exception in thread worker: ValueError: boom in the thread" in failed.lines
    assert "the main thread carries on" in failed.lines
    assert handled.done and handled.content == "finished" and "handled it" in handled.lines
    # The traceback is the operator's: in the server log, never in the stream.
    assert not any("Traceback" in line for line in failed.lines)
    assert any("Traceback" in line for line in server.output())


async def test_async_jobs_and_values_are_answers_like_any_other(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    async with http(server) as client:
        with anyio.fail_after(30):
            awaited = await chat(client, "awaiting", token)
            generated = await chat(client, "async_events", token)
            valued = await chat(client, "returns_json", token)
    assert awaited.done and awaited.content == f"async answer {token}"
    assert f"async start {token}" in awaited.lines and f"async thread {token}" in awaited.lines
    assert generated.done and generated.content == f"agen part {token}\n" and f"agen start {token}" in generated.lines
    assert valued.done and json.loads(valued.content) == {"token": token, "letters": 8}


async def test_a_value_answer_is_shown_as_json_code_on_the_page(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    complete: dict[str, object] = {}
    async with http(server) as client:
        with anyio.fail_after(30):
            url = f"/v1/courses/stream?model=returns_json&subject={token}"
            async with aconnect_sse(client, "GET", url) as source:
                async for sse in source.aiter_sse():
                    if sse.event == "complete":
                        complete = sse.json()
                        break
    html = str(complete["html"])
    assert html.startswith('<pre><code class="language-json">{') and f"&quot;{token}&quot;" not in html
    assert f'"token": "{token}"' in html and '\n  "letters": 8' in html, "indented, quotes kept"


async def test_an_async_job_waiting_is_stopped_when_its_client_leaves(server: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "ended"
    async with http(server) as client:
        with anyio.fail_after(30):
            await chat(client, "awaiting", f"wait {marker}", stop_at="async thread")
        left = time.monotonic()
        while not marker.exists():  # the minute's wait was cancelled, not sat out (slack for a busy machine)
            assert time.monotonic() - left < 30, "the async job's wait went on after its client left"
            await anyio.sleep(0.05)


def test_a_failed_job_is_not_run_again_by_the_openai_sdk(server: ServerProcess) -> None:
    # The SDK retries a 500 twice by default: a failed job must say a retry would not help.
    import openai

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", timeout=30)
    before = len([line for line in server.output() if "model=failing_thread outcome=failed" in line])
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="failing_thread", messages=[{"role": "user", "content": "raise"}])
    assert "boom in the thread" in str(failed.value) and failed.value.response.headers["x-should-retry"] == "false"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        runs = len([line for line in server.output() if "model=failing_thread outcome=failed" in line]) - before
        if runs:
            break
        time.sleep(0.05)
    assert runs == 1, f"the job ran {runs} times for one call"


async def test_a_subprocess_streams_into_the_job(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    async with http(server) as client:
        with anyio.fail_after(30):
            result = await chat(client, "child", token)
    assert result.done and json.loads(result.content) == {"status": 0}
    assert f"child out {token}" in result.lines and f"child err {token}" in result.lines
    assert not any(token in line for line in server.output())


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, possibly while being read
        return False
    return not re.search(r"^State:\s+Z", status, re.M)


async def test_a_subprocess_still_running_when_the_client_leaves_is_killed(server: ServerProcess) -> None:
    token = f"wait{secrets.token_hex(4)}"
    async with http(server) as client:
        with anyio.fail_after(30):
            result = await chat(client, "child", token, stop_at=r"pid \d+\n")
    pid = int(next(line for line in result.lines if line.startswith("pid ")).split()[1])
    left = time.monotonic()
    with anyio.fail_after(10):  # a busy machine gets slack; the time it took is printed below
        while _alive(pid):
            await anyio.sleep(0.02)
    print(f"child gone {time.monotonic() - left:.3f} s after the client left")
