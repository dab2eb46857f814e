"""The OpenAI-compatible route, driven by the official ``openai`` SDK against a real server."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import pytest

from tests.helpers import ticker
from tests.server import ServerProcess, server_whose_knowledge_base_breaks

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def client(server: ServerProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=30)


async def test_models_list(server: ServerProcess) -> None:
    with anyio.fail_after(10):
        async with client(server) as sdk:
            models = await sdk.models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == "course-generator" and "ticker" in ids
    assert all(m.object == "model" and m.owned_by for m in models.data)


async def test_models_retrieve_one_or_a_404_in_openai_shape(server: ServerProcess) -> None:
    with anyio.fail_after(10):
        async with client(server) as sdk:
            model = await sdk.models.retrieve("ticker")
            with pytest.raises(openai.NotFoundError) as caught:
                await sdk.models.retrieve("gpt-4o")
    assert model.id == "ticker" and model.object == "model"
    assert caught.value.code == "model_not_found" and "course-generator" in caught.value.message


async def test_streams_a_course_reasoning_then_content_then_a_clean_end(server: ServerProcess) -> None:
    chunks = []
    with anyio.fail_after(30):
        async with client(server) as sdk:
            stream = await sdk.chat.completions.create(
                model="course-generator", messages=[{"role": "user", "content": "json"}], stream=True
            )
            async for chunk in stream:
                chunks.append(chunk)
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    kinds: list[str] = []
    reasoning, content = [], []
    for chunk in chunks[1:-1]:
        delta = chunk.choices[0].delta
        extra = delta.model_extra or {}
        assert not (extra.get("reasoning_content") and delta.content), "reasoning and content share a chunk"
        if extra.get("reasoning_content"):
            kinds.append("reasoning")
            reasoning.append(extra["reasoning_content"])
        elif delta.content:
            kinds.append("content")
            content.append(delta.content)
    assert kinds.index("reasoning") < kinds.index("content")
    assert "PHASE 1: KNOWLEDGE RETRIEVAL" in "".join(reasoning)
    assert "".join(content).startswith("# json\n")
    assert "https://docs.python.org/3/library/json.html" in "".join(content), "the course links its sources"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices[0].delta.content is None


async def test_usage_chunk_when_asked(server: ServerProcess) -> None:
    chunks = []
    with anyio.fail_after(20):
        async with client(server) as sdk:
            stream = await sdk.chat.completions.create(
                model="ticker",
                messages=[{"role": "user", "content": ticker(2, 0.01)}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                chunks.append(chunk)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert chunks[-2].choices[0].finish_reason == "stop"


async def test_non_streaming_returns_content_and_reasoning(server: ServerProcess) -> None:
    with anyio.fail_after(30):
        async with client(server) as sdk:
            completion = await sdk.chat.completions.create(
                model="course-generator",
                messages=[
                    {"role": "system", "content": "ignored"},
                    {"role": "user", "content": [{"type": "text", "text": "context managers"}]},
                ],
            )
    message = completion.choices[0].message
    assert message.content is not None and message.content.startswith("# Context managers")
    assert "PHASE 3: COURSE GENERATION" in (message.model_extra or {})["reasoning_content"]
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 100


def raw_chunks(server: ServerProcess, body: dict[str, Any]) -> Iterator[str]:
    """The ``data:`` payloads and comment lines of a stream, as sent."""
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line:
                yield line


async def test_heartbeats_on_a_silent_job_are_empty_delta_chunks(server: ServerProcess) -> None:
    body = {"model": "ticker", "messages": [{"role": "user", "content": ticker(2, 1.0)}], "stream": True}
    lines = await anyio.to_thread.run_sync(lambda: list(raw_chunks(server, body)))
    assert not any(line.startswith("id:") for line in lines), "no id: field on the OpenAI route"
    payloads = [line.removeprefix("data: ") for line in lines]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    heartbeats = [c for c in chunks if c["choices"] == [{"index": 0, "delta": {}, "finish_reason": None}]]
    assert len(heartbeats) >= 3, "a 1 s silence with a 0.2 s interval"
    # ... and the official SDK reads the same stream without tripping over them.
    with anyio.fail_after(20):
        async with client(server) as sdk:
            stream = await sdk.chat.completions.create(
                model="ticker", messages=[{"role": "user", "content": ticker(2, 1.0)}], stream=True
            )
            texts = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert texts == ["ticker done: 2 ticks every 1 s, token -"]


async def test_comment_heartbeats_as_an_option(default_kb: Path) -> None:
    env = {"KNOWLEDGE_BASE": str(default_kb), "HEARTBEAT_INTERVAL": "0.2", "HEARTBEAT_STYLE": "comment"}
    with ServerProcess(env) as server:
        body = {"model": "ticker", "messages": [{"role": "user", "content": ticker(2, 1.0)}], "stream": True}
        lines = await anyio.to_thread.run_sync(lambda: list(raw_chunks(server, body)))
        assert sum(1 for line in lines if line.startswith(":")) >= 3
        with anyio.fail_after(20):
            async with client(server) as sdk:
                stream = await sdk.chat.completions.create(
                    model="ticker", messages=[{"role": "user", "content": ticker(2, 1.0)}], stream=True
                )
                finish = [c.choices[0].finish_reason async for c in stream if c.choices]
        assert finish[-1] == "stop"


async def test_a_client_that_disconnects_stops_its_job(server: ServerProcess) -> None:
    token = secrets.token_hex(6)
    body = {
        "model": "ticker",
        "messages": [{"role": "user", "content": ticker(10_000, 0.05, token)}],
        "stream": True,
    }
    received: list[int] = []
    with anyio.fail_after(20):
        async with httpx.AsyncClient(timeout=10) as http:
            async with http.stream("POST", f"{server.url}/v1/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if "reasoning_content" in line:
                        text = json.loads(line.removeprefix("data: "))["choices"][0]["delta"]["reasoning_content"]
                        received += [int(t.split()[1]) for t in text.splitlines()]
                    if len(received) >= 3:
                        break  # leaving the block closes the connection mid-stream

        def printed() -> list[int]:
            return [int(line.split()[2]) for line in server.output() if line.endswith(f" {token}")]

        # The server echoes every line its jobs print: once the client has gone, the job
        # is stopped (its end is logged) having printed at most the lines in flight.
        while not any("event=job" in line and "reason=abandoned" in line and "model=ticker" in line
                      for line in server.output()):
            await anyio.sleep(0.05)
        assert max(printed()) <= max(received) + 3, "the job kept printing after its client left"

        # ... and the server keeps serving others.
        async with client(server) as sdk:
            stream = await sdk.chat.completions.create(
                model="ticker", messages=[{"role": "user", "content": ticker(3, 0.01)}], stream=True
            )
            finish = [c.choices[0].finish_reason async for c in stream if c.choices]
        assert finish[-1] == "stop"


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose knowledge base cannot be opened (its path became a directory): every course fails."""
    with server_whose_knowledge_base_breaks(tmp_path_factory.mktemp("broken"), {"HEARTBEAT_INTERVAL": "5"}) as running:
        yield running


async def test_a_failing_job_raises_api_error_with_a_short_message(broken_server: ServerProcess) -> None:
    with anyio.fail_after(20):
        async with client(broken_server) as sdk:
            stream = await sdk.chat.completions.create(
                model="course-generator", messages=[{"role": "user", "content": "json"}], stream=True
            )
            with pytest.raises(openai.APIError) as info:
                async for _ in stream:
                    pass
    message = info.value.message
    assert "unable to open database file" in message
    assert "Traceback" not in message and len(message) < 200
    assert isinstance(info.value.body, dict) and set(info.value.body) == {"message", "type", "param", "code"}
    deadline = time.monotonic() + 5
    while not any("Traceback" in line for line in broken_server.output()):
        assert time.monotonic() < deadline, "the traceback goes to the server log"
        await anyio.sleep(0.05)


async def test_a_failing_job_without_streaming_is_a_500_in_openai_shape(broken_server: ServerProcess) -> None:
    with anyio.fail_after(20), pytest.raises(openai.InternalServerError) as info:
        async with client(broken_server) as sdk:
            await sdk.chat.completions.create(model="course-generator", messages=[{"role": "user", "content": "json"}])
    assert "unable to open database file" in info.value.message
    assert "Traceback" not in info.value.response.text
