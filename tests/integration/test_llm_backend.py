"""The optional language-model backend, against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import openai
import pytest

from pipeline import stream_course_generation_progress
from pipeline.llm import LLMError, LLMSettings, stream_chat
from tests.fake_upstream import ANSWER, REASONING, FakeUpstream
from tests.server import ServerProcess, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as running:
        yield running


def llm_env(default_kb: Path, base_url: str, **extra: str) -> dict[str, str]:
    return {"KNOWLEDGE_BASE": str(default_kb), "LLM_BASE_URL": base_url, "LLM_MODEL": "script",
            "LLM_API_KEY": "upstream-key", "LLM_TIMEOUT": "5", "ECHO_JOB_OUTPUT": "0", **extra}


@pytest.fixture(scope="module")
def llm_server(default_kb: Path, upstream: FakeUpstream) -> Iterator[ServerProcess]:
    with ServerProcess(llm_env(default_kb, upstream.url, LLM_MAX_RETRIES="2")) as running:
        yield running


async def course(server: ServerProcess, model: str = "course-generator") -> tuple[list[str], str]:
    """(content chunks, reasoning) of a streamed course on context managers."""
    contents, reasoning = [], []
    async with openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="-", max_retries=0) as sdk:
        stream = await sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "context managers"}], stream=True
        )
        async for chunk in stream:
            if chunk.choices:
                delta = chunk.choices[0].delta
                if delta.content:
                    contents.append(delta.content)
                reasoning.append((delta.model_extra or {}).get("reasoning_content") or "")
    return contents, "".join(reasoning)


@pytest.mark.parametrize("behavior", ["answer", "reasoning-field"])
async def test_the_answer_streams_token_by_token_and_its_reasoning_to_the_thinking_box(
    llm_server: ServerProcess, upstream: FakeUpstream, behavior: str
) -> None:
    upstream.behavior = behavior
    with anyio.fail_after(30):
        contents, reasoning = await course(llm_server)
    assert contents == ANSWER, "each upstream token is its own content chunk"
    assert "".join(REASONING) in reasoning, "the model's own reasoning is in the thinking box"
    assert "PHASE 1: KNOWLEDGE RETRIEVAL" in reasoning, "so are the agents' lines"
    prompt = upstream.requests[-1]
    assert prompt["model"] == "script" and prompt["stream"] is True
    user = prompt["messages"][-1]["content"]
    assert "Subject: context managers" in user and "[1] manual:" in user and "with" in user  # the sections, numbered
    assert "Use only the numbered sources" in prompt["messages"][0]["content"]
    assert upstream.headers[-1]["authorization"] == "Bearer upstream-key"
    # httpx logs each request at INFO: the thinking box shows the job, not the upstream's address.
    assert "HTTP Request" not in reasoning and upstream.url.split("/")[2] not in reasoning


@pytest.mark.parametrize(
    ("behavior", "message", "attempts"),
    [
        ("401", "refused the API key (401: Incorrect API key provided)", 1),
        ("429", "is rate-limiting requests (429: Rate limit reached)", 3),
        ("500", "failed (HTTP 500: the model fell over)", 3),
        ("cut", "was cut off mid-answer", 1),
    ],
)
async def test_each_upstream_failure_reaches_the_client_clearly(
    llm_server: ServerProcess, upstream: FakeUpstream, behavior: str, message: str, attempts: int
) -> None:
    upstream.behavior = behavior
    before = len(upstream.requests)
    with anyio.fail_after(30), pytest.raises(openai.APIError) as info:
        await course(llm_server)
    assert message in info.value.message, info.value.message
    assert info.value.message.startswith("Could not write the course: the language model")
    assert len(upstream.requests) - before == attempts, "retries are bounded, and only where they may help"


async def test_which_upstream_failed_is_in_the_server_log_not_the_thinking_box(
    llm_server: ServerProcess, upstream: FakeUpstream
) -> None:
    upstream.behavior = "500"
    host = upstream.url.split("/")[2]
    reasoning: list[str] = []
    with anyio.fail_after(30), pytest.raises(openai.APIError):
        async with openai.AsyncOpenAI(base_url=f"{llm_server.url}/v1", api_key="-", max_retries=0) as sdk:
            stream = await sdk.chat.completions.create(
                model="course-generator", messages=[{"role": "user", "content": "context managers"}], stream=True
            )
            async for chunk in stream:
                if chunk.choices:
                    reasoning.append((chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or "")
    shown = "".join(reasoning)
    assert "The language model did not answer" in shown and "trying again" in shown
    assert host not in shown and "pipeline.llm" not in shown
    with anyio.fail_after(10):
        while not any(f"language model upstream {host}" in line for line in llm_server.output()):
            await anyio.sleep(0.05)


async def test_an_unreachable_upstream(default_kb: Path) -> None:
    env = llm_env(default_kb, f"http://127.0.0.1:{free_port()}/v1", LLM_MAX_RETRIES="1")
    with ServerProcess(env) as server, anyio.fail_after(30), pytest.raises(openai.APIError) as info:
        await course(server)
    assert "the language model 'script' is unreachable" in info.value.message
    assert "127.0.0.1" not in info.value.message, "clients never see the upstream's address"


async def test_fallback_to_the_embedded_generator(default_kb: Path, upstream: FakeUpstream) -> None:
    upstream.behavior = "500"
    env = llm_env(default_kb, upstream.url, LLM_FALLBACK="true", LLM_MAX_RETRIES="0")
    with ServerProcess(env) as server, anyio.fail_after(30):
        contents, reasoning = await course(server)
    assert "failed (HTTP 500: the model fell over): writing the course with the embedded generator" in reasoning
    assert "".join(contents).startswith("# Context managers\n") and "## Quiz" in "".join(contents)


async def test_a_client_that_leaves_cancels_the_upstream_request(
    llm_server: ServerProcess, upstream: FakeUpstream
) -> None:
    upstream.behavior = "slow"
    upstream.disconnected.clear()
    with anyio.fail_after(30):
        async with openai.AsyncOpenAI(base_url=f"{llm_server.url}/v1", api_key="-", max_retries=0) as sdk:
            stream = await sdk.chat.completions.create(
                model="course-generator", messages=[{"role": "user", "content": "context managers"}], stream=True
            )
            tokens = 0
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    tokens += 1
                    if tokens == 3:
                        break
            await stream.close()
        await anyio.to_thread.run_sync(upstream.disconnected.wait, 5)
    assert upstream.disconnected.is_set(), "the upstream saw its client leave"


async def test_models_say_which_backend_each_uses(llm_server: ServerProcess, upstream: FakeUpstream) -> None:
    async with openai.AsyncOpenAI(base_url=f"{llm_server.url}/v1", api_key="-", max_retries=0) as sdk:
        models = {m.id: (m.model_extra or {})["backend"] for m in (await sdk.models.list()).data}
    assert models["course-generator"] == "llm: model 'script'", "the model's name, not the upstream's address"
    assert models["course-generator-embedded"] == "embedded"
    upstream.behavior = "500"
    with anyio.fail_after(30):
        contents, _ = await course(llm_server, model="course-generator-embedded")
    assert "## Quiz" in "".join(contents), "the embedded model never calls the upstream"


def test_client_facing_text_never_shows_the_upstreams_address_or_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    settings = LLMSettings(f"http://alice:s3cret@127.0.0.1:{port}/v1", "m", max_retries=0, timeout=5)
    assert settings.describe() == "model 'm'"
    with caplog.at_level(logging.WARNING, logger="pipeline.llm"), pytest.raises(LLMError) as info:
        list(stream_chat(settings, [{"role": "user", "content": "hi"}]))
    message = info.value.message
    assert message.startswith("the language model 'm' is unreachable ("), message
    assert "127.0.0.1" not in message and "s3cret" not in message and "alice" not in message
    logged = caplog.text
    assert f"127.0.0.1:{port}" in logged, "the operator's log says which upstream failed"
    assert "s3cret" not in logged and "alice" not in logged, "but never its credentials"


def test_the_embedded_default_needs_no_network(default_kb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(self: socket.socket, address: object) -> None:
        raise AssertionError(f"the embedded generator tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    events = list(stream_course_generation_progress("generators", {"knowledge_base": str(default_kb)}))
    assert events[-1]["type"] == "complete" and events[-1]["results"]["backend"] == "embedded"
