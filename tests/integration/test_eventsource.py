"""The browser face: ``GET /v1/courses/stream`` read with httpx-sse against a real server."""

from __future__ import annotations

import json
import secrets

import anyio
import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.server import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def read_events(server: ServerProcess, params: dict[str, str]) -> list[ServerSentEvent]:
    async with httpx.AsyncClient(timeout=30) as http:
        async with aconnect_sse(http, "GET", f"{server.url}/v1/courses/stream", params=params) as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            assert source.response.headers["cache-control"] == "no-store"
            assert source.response.headers["x-accel-buffering"] == "no"
            # A heartbeat comment is dispatched by httpx-sse as an empty "message" event once an
            # id was seen (browsers do not, as the SSE spec says): heartbeats may come any time.
            return [event async for event in source.aiter_sse() if event.event != "message" or event.data]


async def test_named_events_with_ids(server: ServerProcess) -> None:
    with anyio.fail_after(30):
        events = await read_events(server, {"subject": "sorting with key functions"})
    names = [e.event for e in events]
    assert set(names) == {"progress", "content", "html", "complete"}
    assert names.index("progress") < names.index("content")
    assert names[-1] == "complete" and names.count("complete") == 1
    job_ids = {e.id.split(":")[0] for e in events}
    assert len(job_ids) == 1 and job_ids.pop().startswith("job_")
    numbered = [int(e.id.split(":")[1].removesuffix(".md")) for e in events if e.event != "content"]
    assert numbered == list(range(1, len(numbered) + 1)), "ids count the job's events, in order"
    assert len({e.id for e in events}) == len(events), "every event its own id"
    assert events[0].retry == 1000, "retry: is sent so that clients reconnect promptly"
    progress = "".join(e.data for e in events if e.event == "progress")
    assert "PHASE 1: KNOWLEDGE RETRIEVAL\n" in progress
    complete = json.loads(events[-1].data)
    markdown = "".join(e.data for e in events if e.event == "content")
    assert complete["markdown"] == markdown
    assert complete["html"].startswith("<h1>Sorting with key functions</h1>")
    html = "".join(e.data + "\n" for e in events if e.event == "html")
    assert html.startswith("<h1>Sorting with key functions</h1>") and "<h2>Quiz</h2>" in html
    for index, event in enumerate(events):
        if event.event == "content":
            following = events[index + 1]
            assert following.event == "html", "each part comes as Markdown, then as HTML"
            assert event.id == following.id + ".md", "... the Markdown as <job>:<seq>.md, the HTML as <job>:<seq>"
    assert {str(s["id"]).partition("#")[0] for s in complete["sources"]} >= {"manual:howto/sorting"}
    assert all(str(s["url"]).startswith("https://docs.python.org/3/") for s in complete["sources"])
    assert complete["elapsed_ms"] > 0 and "total_ms" in complete["timings"]


async def test_progress_text_arrives_exactly_as_printed(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    with anyio.fail_after(20):
        events = await read_events(
            server, {"model": "ticker", "subject": json.dumps({"ticks": 5, "interval": 0.01, "token": token})}
        )
    lines = "".join(e.data + "\n" for e in events if e.event == "progress").replace("\n\n", "\n").splitlines()
    assert [line.split()[1] for line in lines] == ["0", "1", "2", "3", "4"]
    assert all(line.endswith(f" {token}") for line in lines)


async def test_heartbeat_comments_keep_a_silent_stream_alive(server: ServerProcess) -> None:
    params = {"model": "ticker", "subject": json.dumps({"ticks": 2, "interval": 1.0})}
    lines: list[str] = []
    with anyio.fail_after(20):
        async with httpx.AsyncClient(timeout=10) as http:
            async with http.stream("GET", f"{server.url}/v1/courses/stream", params=params) as response:
                lines = [line async for line in response.aiter_lines()]
    assert sum(1 for line in lines if line.startswith(": ")) >= 3
    assert lines.count("event: complete") == 1


async def test_a_bad_subject_is_refused_before_streaming(server: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        empty = await http.get(f"{server.url}/v1/courses/stream", params={"subject": "  "})
        unknown = await http.get(f"{server.url}/v1/courses/stream", params={"subject": "x", "model": "nope"})
        bad_ticker = await http.get(f"{server.url}/v1/courses/stream", params={"subject": "{", "model": "ticker"})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "subject"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    assert bad_ticker.status_code == 400


async def test_an_unknown_subject_completes_with_an_honest_answer(server: ServerProcess) -> None:
    with anyio.fail_after(20):
        events = await read_events(server, {"subject": "banana bread recipes"})
    complete = json.loads(events[-1].data)
    assert complete["sources"] == []
    assert complete["markdown"].startswith("# No course on")


async def test_head_answers_like_get_and_starts_no_job(server: ServerProcess) -> None:
    probed, read = secrets.token_hex(4), secrets.token_hex(4)
    ticker = '{{"ticks": 3, "interval": 0, "token": "{}"}}'
    async with httpx.AsyncClient(timeout=30) as http:
        head = await http.head(f"{server.url}/v1/courses/stream",
                               params={"model": "ticker", "subject": ticker.format(probed)})
        bad = await http.head(f"{server.url}/v1/courses/stream", params={"model": "ticker", "subject": "{"})
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/event-stream")
    assert bad.status_code == 400, "HEAD checks the request as GET does"
    with anyio.fail_after(30):
        events = await read_events(server, {"model": "ticker", "subject": ticker.format(read)})
    assert events[-1].event == "complete" and json.loads(events[-1].data)["known"] is True
    # The job a GET started printed (the server echoes job output); a HEAD's never existed.
    with anyio.fail_after(10):
        while not any(read in line for line in server.output()):
            await anyio.sleep(0.05)
    assert not any(probed in line for line in server.output())
