"""The Responses API face, driven by the official ``openai`` SDK against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseReasoningItem

from tests.helpers import ticker
from tests.integration.test_readme import readme_blocks
from tests.server import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def client(server: ServerProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=30)


def reasoning_text(response: Response) -> str:
    """The text of a response's reasoning item (what the job printed)."""
    item = response.output[0]
    assert isinstance(item, ResponseReasoningItem) and item.summary
    return item.summary[0].text


async def cancel_after_a_tick(reader: openai.AsyncOpenAI, canceller: openai.AsyncOpenAI) -> tuple[Response, list[Any]]:
    """Start a long background ticker, read it up to its first tick, cancel it, and read the
    rest (within a second); the cancel's answer and every event read."""
    started = await reader.responses.create(model="ticker", input=ticker(1000, 0.05), background=True)
    stream = await reader.responses.retrieve(started.id, stream=True)
    events: list[Any] = []
    async for event in stream:
        events.append(event)
        if event.type == "response.reasoning_summary_text.delta":
            break
    cancelled = await canceller.responses.cancel(started.id)
    with anyio.fail_after(1):
        async for event in stream:
            events.append(event)
    return cancelled, events


def ticks_in(events: list[Any]) -> list[int]:
    """The tick numbers the reasoning deltas carry, in the order they came."""
    ticks: list[int] = []
    for event in events:
        if event.type == "response.reasoning_summary_text.delta":
            ticks += [int(line.split()[1]) for line in event.delta.splitlines() if line.startswith("tick ")]
    return ticks


async def test_streams_reasoning_then_the_course_with_gapless_sequence_numbers(server: ServerProcess) -> None:
    events: list[Any] = []
    with anyio.fail_after(60):
        async with client(server) as sdk:
            stream = await sdk.responses.create(model="course-generator", input="generators", stream=True)
            async for event in stream:
                events.append(event)
    types = [event.type for event in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    first_text = types.index("response.output_text.delta")
    assert "response.reasoning_summary_text.delta" in types[:first_text]
    assert "response.reasoning_summary_text.delta" not in types[first_text:]
    reasoning = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert "Lookup 1:" in reasoning  # the knowledge retriever's lines
    course = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert course.startswith("# ") and "generator" in course.lower()
    done = events[-1].response
    assert done.status == "completed" and done.output_text == course
    assert [item.type for item in done.output] == ["reasoning", "message"]
    text_done = next(e for e in events if e.type == "response.output_text.done")
    assert text_done.text == course and text_done.item_id == done.output[1].id


async def test_without_streaming_the_response_object_carries_the_course(server: ServerProcess) -> None:
    with anyio.fail_after(60):
        async with client(server) as sdk:
            response = await sdk.responses.create(
                model="course-generator",
                input=[{"role": "user", "content": [{"type": "input_text", "text": "context managers"}]}],
                instructions="Be brief.",  # accepted and ignored
            )
            again = await sdk.responses.retrieve(response.id)
    assert response.status == "completed" and response.output_text.startswith("# ")
    assert "with" in response.output_text
    assert "Lookup 1:" in reasoning_text(response)
    assert again.output_text == response.output_text and again.status == "completed"


async def test_a_background_ticker_dropped_and_resumed_yields_every_tick_once(server: ServerProcess) -> None:
    ticks = 40
    with anyio.fail_after(60):
        async with client(server) as sdk:
            started = await sdk.responses.create(
                model="ticker", input=ticker(ticks, 0.05), background=True
            )
            assert started.status in ("queued", "in_progress") and started.background
            first: list[Any] = []
            stream = await sdk.responses.retrieve(started.id, stream=True, starting_after=-1)
            async for event in stream:
                first.append(event)
                if len(first) == 10:
                    break
            await stream.close()  # the client drops; the response goes on without it
            rest: list[Any] = []
            resumed = await sdk.responses.retrieve(
                started.id, stream=True, starting_after=first[-1].sequence_number
            )
            async for event in resumed:
                rest.append(event)
    events = first + rest
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert ticks_in(events) == list(range(ticks))
    assert events[-1].type == "response.completed"


async def test_a_background_response_runs_with_nobody_reading_and_can_be_retrieved(server: ServerProcess) -> None:
    with anyio.fail_after(30):
        async with client(server) as sdk:
            started = await sdk.responses.create(model="ticker", input=ticker(3, 0.01), background=True)
            response = await sdk.responses.retrieve(started.id)
            while response.status in ("queued", "in_progress"):
                await anyio.sleep(0.05)
                response = await sdk.responses.retrieve(started.id)
    assert response.status == "completed" and response.output_text
    assert reasoning_text(response).count("tick ") == 3


async def test_cancel_ends_a_background_response_within_a_second(server: ServerProcess) -> None:
    with anyio.fail_after(30):
        async with client(server) as sdk:
            cancelled, events = await cancel_after_a_tick(sdk, sdk)
            after = await sdk.responses.retrieve(cancelled.id)
    assert cancelled.status == "cancelled" and after.status == "cancelled"
    assert events[-1].type == "response.incomplete" and events[-1].response.status == "cancelled"
    assert [event.sequence_number for event in events] == list(range(len(events)))


async def test_errors_are_openai_error_objects(server: ServerProcess) -> None:
    with anyio.fail_after(30):
        async with client(server) as sdk:
            with pytest.raises(openai.NotFoundError) as unknown_model:
                await sdk.responses.create(model="gpt-5", input="generators")
            with pytest.raises(openai.NotFoundError) as unknown_response:
                await sdk.responses.retrieve("resp_0123456789abcdef")
            with pytest.raises(openai.BadRequestError) as bad_input:
                await sdk.responses.create(model="ticker", input="{not json")
            with pytest.raises(openai.BadRequestError) as no_subject:
                await sdk.responses.create(model="ticker", input=[{"role": "assistant", "content": "hi"}])
            with pytest.raises(openai.BadRequestError) as too_many:
                await sdk.responses.create(model="ticker", input=[{"role": "user", "content": "{}"}] * 257)
            stream = await sdk.responses.create(model="ticker", input=ticker(2, 0.01), stream=True)
            ok = [event async for event in stream]
    assert unknown_model.value.code == "model_not_found"
    assert unknown_response.value.code == "not_found"
    assert bad_input.value.param == "input" and no_subject.value.param == "input"
    assert "at most 256" in too_many.value.message
    assert ok[-1].type == "response.completed"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        answer = await http.get("/v1/responses/resp_0123456789abcdef", params={"stream": "true"})
    assert answer.status_code == 404 and answer.json()["error"]["type"] == "invalid_request_error"


def test_the_readme_example_resumes_a_background_response(server: ServerProcess) -> None:
    (example,) = [block for block in readme_blocks("python") if "client.responses" in block]
    code = example.replace("http://127.0.0.1:8000", server.url)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert [int(line.split()[1]) for line in lines if line.startswith("tick ")] == list(range(20))
    assert lines[-1].startswith("ticker done: 20 ticks")


@pytest.fixture(scope="module")
def strict_server(default_kb: Path) -> Iterator[ServerProcess]:
    """API keys on, one job at a time and one waiting, each stopped after one second."""
    env = {"KNOWLEDGE_BASE": str(default_kb), "API_KEYS": KEY, "JOB_TIMEOUT": "1",
           "MAX_CONCURRENT_JOBS": "1", "MAX_QUEUED_JOBS": "1"}
    with ServerProcess(env) as running:
        yield running


KEY = "key-for-the-responses-tests"


async def test_keys_admission_and_time_limits_hold_here_too(strict_server: ServerProcess) -> None:
    keyed = openai.AsyncOpenAI(base_url=f"{strict_server.url}/v1", api_key=KEY, max_retries=0, timeout=30)
    with anyio.fail_after(30):
        async with client(strict_server) as keyless, keyed:
            with pytest.raises(openai.AuthenticationError) as refused:
                await keyless.responses.create(model="ticker", input=ticker(1, 0.01))
            stream = await keyed.responses.create(model="ticker", input=ticker(100, 0.1), stream=True)
            events = [await anext(aiter(stream))]
            waiting = await keyed.responses.create(model="ticker", input=ticker(1, 0.01), background=True)
            waiting_now = await keyed.responses.retrieve(waiting.id)
            with pytest.raises(openai.RateLimitError) as busy:
                await keyed.responses.create(model="ticker", input=ticker(1, 0.01), background=True)
            async with httpx.AsyncClient(base_url=strict_server.url, timeout=10) as http:
                busy_chat = await http.post("/api/chat", headers={"Authorization": f"Bearer {KEY}"},
                                            json={"messages": [{"role": "user", "parts": [{"type": "text",
                                                                                            "text": "x"}]}]})
            events += [event async for event in stream]
            await keyed.responses.cancel(waiting.id)
    assert refused.value.code == "invalid_api_key"
    assert waiting.status == "queued" and waiting_now.status == "queued"
    assert busy.value.response.headers["retry-after"] and busy.value.code == "server_overloaded"
    assert busy_chat.status_code == 429 and busy_chat.headers["retry-after"] and "busy" in busy_chat.text
    failed = events[-1]
    assert failed.type == "response.failed" and failed.response.error is not None
    assert failed.response.error.code == "server_error" and "limit of 1 s" in failed.response.error.message
    assert [event.sequence_number for event in events] == list(range(len(events)))


async def test_on_the_wire_named_events_comment_heartbeats_and_no_done(server: ServerProcess) -> None:
    body = {"model": "ticker", "input": ticker(2, 0.6), "stream": True}
    with anyio.fail_after(30):
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            async with http.stream("POST", "/v1/responses", json=body) as answer:
                raw = (await answer.aread()).decode()
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert ": ping" in raw  # heartbeats (HEARTBEAT_INTERVAL is 0.2 s here) are SSE comments
    assert "[DONE]" not in raw and "\nid:" not in raw
    blocks = [block for block in raw.split("\n\n") if block.startswith("event: ")]
    for block in blocks:  # every event's name is its type
        name, data = block.split("\n", 1)
        assert json.loads(data.removeprefix("data: "))["type"] == name.removeprefix("event: ")
    assert blocks[-1].startswith("event: response.completed")


async def test_the_sdk_stream_helper_accumulates_the_same_response(server: ServerProcess) -> None:
    with anyio.fail_after(30):
        async with client(server) as sdk:
            async with sdk.responses.stream(model="ticker", input=ticker(3, 0.01)) as stream:
                texts = [event.delta async for event in stream if event.type == "response.output_text.delta"]
                final = await stream.get_final_response()
    assert final.status == "completed" and final.output_text == "".join(texts)
    assert final.output_text.startswith("ticker done: 3 ticks") and reasoning_text(final).count("tick ") == 3
