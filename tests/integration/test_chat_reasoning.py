"""Thinking first on the OpenAI route: printed lines as reasoning before the answer, in each reasoning style.

The official ``openai`` SDK against a real server, read the way each style's clients
read it: ``delta.reasoning_content`` (DeepSeek, vLLM), ``delta.reasoning``
(OpenRouter, Ollama), ``<think>…</think>`` at the start of ``content``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from api.chat import THINK_CLOSE, THINK_OPEN, Deltas
from pipeline import stream_course_generation_progress
from tests.fake_upstream import ANSWER, REASONING, FakeUpstream
from tests.server import ServerProcess

STYLES = ["reasoning_content", "reasoning", "think"]
MESSAGES: Any = [{"role": "user", "content": "json"}]


def client(server: ServerProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=30)


async def stream(
    server: ServerProcess, style: str | None = None, subject: str = "json", model: str = "course-generator"
) -> list[ChatCompletionChunk]:
    extra = {"reasoning_field": style} if style else None
    chunks = []
    with anyio.fail_after(60):
        async with client(server) as sdk:
            response = await sdk.chat.completions.create(
                model=model, messages=[{"role": "user", "content": subject}], stream=True, extra_body=extra
            )
            async for chunk in response:
                chunks.append(chunk)
    return chunks


def split_think(text: str) -> tuple[str, str]:
    """(reasoning, answer) as a client that parses ``<think>`` in ``content`` sees them."""
    if not text.startswith("<think>"):
        return "", text
    reasoning, close, answer = text.removeprefix("<think>").partition("</think>")
    assert close, "the <think> is closed"
    return reasoning.strip("\n"), answer.lstrip("\n")


def read_stream(chunks: list[ChatCompletionChunk], style: str) -> tuple[list[str], str, str]:
    """(the order of reasoning and content deltas, reasoning, answer), read as ``style``'s clients read it."""
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1, "one id for the stream"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    kinds: list[str] = []
    reasoning: list[str] = []
    content: list[str] = []
    for chunk in chunks[1:-1]:
        delta = chunk.choices[0].delta
        extra = delta.model_extra or {}
        fields = {name for name in ("reasoning_content", "reasoning") if extra.get(name)}
        assert not (fields and delta.content), "reasoning and content never share a chunk"
        if style == "think":
            assert not fields, "no reasoning field besides <think> in content"
            content.append(delta.content or "")
        elif fields:
            assert fields == {style}, f"reasoning only in {style}"
            kinds.append("reasoning")
            reasoning.append(extra[style])
        elif delta.content:
            kinds.append("content")
            content.append(delta.content)
    if style != "think":
        return kinds, "".join(reasoning), "".join(content)
    text = "".join(content)
    assert text.count("<think>") == 1 and text.count("</think>") == 1
    thought, answer = split_think(text)
    # In order: every delta before the one that closes </think> is reasoning, then the answer.
    closed = False
    for part in content:
        if closed:
            kinds.append("content")
        elif part:
            kinds.append("reasoning")
            closed = "</think>" in part
    return kinds, thought, answer


def reasoning_first(kinds: list[str]) -> bool:
    return "reasoning" in kinds and "content" in kinds and "reasoning" not in kinds[kinds.index("content") :]


# -- the chunks: printed lines after the answer began ---------------------------------------------


def deltas(style: str, events: list[tuple[str, str]]) -> list[tuple[str, str]]:
    d = Deltas(style)  # type: ignore[arg-type]
    out: list[tuple[str, str]] = []
    for kind, text in events:
        out += [(field, t) for _, field, t in (d.progress(text) if kind == "progress" else d.content(text))]
    return out + [(field, t) for _, field, t in d.end()]


LATE = [("progress", "one\n"), ("content", "A"), ("progress", "late\n"), ("content", "B"), ("progress", "last\n")]


@pytest.mark.parametrize("style", ["reasoning_content", "reasoning"])
def test_lines_printed_after_the_answer_began_are_not_reasoning(style: str) -> None:
    assert deltas(style, LATE) == [(style, "one\n"), ("content", "A"), ("content", "B")]


def test_think_closes_before_the_answer_and_drops_later_lines() -> None:
    assert deltas("think", LATE) == [
        ("content", THINK_OPEN + "one\n"), ("content", THINK_CLOSE), ("content", "A"), ("content", "B")
    ]
    assert deltas("think", [("progress", "partial")]) == [
        ("content", THINK_OPEN + "partial"), ("content", "\n" + THINK_CLOSE)
    ], "closed at the end when there is no answer, on a line of its own"
    assert deltas("think", [("content", "A")]) == [("content", "A")], "no thinking: no tags"


def test_the_embedded_course_prints_everything_before_its_first_piece(default_kb: Path) -> None:
    order: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            if text.strip():
                order.append("progress")
            return len(text)

    with contextlib.redirect_stdout(Recorder()):
        for event in stream_course_generation_progress("json", {"knowledge_base": str(default_kb)}):
            order.append(event["type"])
    first = order.index("content")
    assert "progress" in order[:first] and "progress" not in order[first:]
    assert order[-1] == "complete"


# -- the built-in course, in each style ------------------------------------------------------------


@pytest.fixture(scope="module", params=STYLES)
def styled_server(request: pytest.FixtureRequest, default_kb: Path) -> Iterator[tuple[str, ServerProcess]]:
    env = {"KNOWLEDGE_BASE": str(default_kb), "HEARTBEAT_INTERVAL": "5", "REASONING_FIELD": request.param}
    with ServerProcess(env) as running:
        yield request.param, running



def check_course(kinds: list[str], reasoning: str, answer: str) -> None:
    assert reasoning_first(kinds), kinds
    assert "PHASE 1: KNOWLEDGE RETRIEVAL" in reasoning
    assert "Writing the quiz" in reasoning and "✅ Course ready" in reasoning, "the last lines are reasoning too"
    assert answer.startswith("# json\n") and "## Quiz" in answer and "<think>" not in answer


@pytest.mark.anyio
@pytest.mark.integration
async def test_the_setting_picks_the_style(styled_server: tuple[str, ServerProcess]) -> None:
    style, server = styled_server
    check_course(*read_stream(await stream(server), style))


@pytest.mark.anyio
@pytest.mark.integration
async def test_the_setting_picks_the_style_without_streaming(styled_server: tuple[str, ServerProcess]) -> None:
    style, server = styled_server
    with anyio.fail_after(60):
        async with client(server) as sdk:
            completion = await sdk.chat.completions.create(model="course-generator", messages=MESSAGES)
    message = completion.choices[0].message
    extra = message.model_extra or {}
    if style == "think":
        assert not {"reasoning_content", "reasoning"} & set(extra)
        reasoning, answer = split_think(message.content or "")
    else:
        assert set(extra) & {"reasoning_content", "reasoning"} == {style}
        reasoning, answer = extra[style], message.content or ""
    assert "PHASE 3: COURSE GENERATION" in reasoning and "✅ Course ready" in reasoning
    assert answer.startswith("# json\n")
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.anyio
@pytest.mark.integration
@pytest.mark.parametrize("style", STYLES)
async def test_a_request_overrides_the_setting(server: ServerProcess, style: str) -> None:
    check_course(*read_stream(await stream(server, style), style))


@pytest.mark.anyio
@pytest.mark.integration
async def test_a_request_overrides_the_setting_without_streaming(server: ServerProcess) -> None:
    with anyio.fail_after(60):
        async with client(server) as sdk:
            completion = await sdk.chat.completions.create(
                model="course-generator", messages=MESSAGES, extra_body={"reasoning_field": "think"}
            )
    text = completion.choices[0].message.content or ""
    assert text.startswith(THINK_OPEN)
    reasoning, answer = split_think(text)
    assert "PHASE 1: KNOWLEDGE RETRIEVAL" in reasoning and answer.startswith("# json\n")


@pytest.mark.anyio
@pytest.mark.integration
@pytest.mark.parametrize("value", ["thinking", "", 1, ["think"]])
async def test_a_bad_override_is_a_400_naming_the_parameter(server: ServerProcess, value: object) -> None:
    with anyio.fail_after(20), pytest.raises(openai.BadRequestError) as info:
        async with client(server) as sdk:
            await sdk.chat.completions.create(
                model="course-generator", messages=MESSAGES, stream=True, extra_body={"reasoning_field": value}
            )
    assert info.value.param == "reasoning_field"
    assert "reasoning_content" in info.value.message


# -- a job that prints after its answer began: the language-model writer ----------------------------


@pytest.fixture(scope="module")
def llm_server(default_kb: Path) -> Iterator[tuple[FakeUpstream, ServerProcess]]:
    env = {"KNOWLEDGE_BASE": str(default_kb), "LLM_BASE_URL": "", "LLM_MODEL": "script", "LLM_TIMEOUT": "5"}
    with FakeUpstream() as upstream:
        env["LLM_BASE_URL"] = upstream.url
        with ServerProcess(env) as running:
            yield upstream, running


@pytest.mark.anyio
@pytest.mark.integration
@pytest.mark.parametrize("style", STYLES)
async def test_lines_printed_after_the_answer_began_stay_out_of_the_thinking_box(
    llm_server: tuple[FakeUpstream, ServerProcess], style: str
) -> None:
    upstream, server = llm_server
    upstream.behavior = "answer"
    kinds, reasoning, answer = read_stream(await stream(server, style, "context managers"), style)
    assert reasoning_first(kinds), kinds
    assert "".join(REASONING).strip() in reasoning, "the model's own thinking is reasoning"
    assert answer == "".join(ANSWER)
    assert "Citations checked" not in reasoning and "Course ready" not in reasoning

    # The same job without streaming: its reasoning holds every line, those printed after the answer too.
    with anyio.fail_after(60):
        async with client(server) as sdk:
            completion = await sdk.chat.completions.create(
                model="course-generator", messages=[{"role": "user", "content": "context managers"}],
                extra_body={"reasoning_field": style},
            )
    message = completion.choices[0].message
    if style == "think":
        full, answer = split_think(message.content or "")
    else:
        full, answer = (message.model_extra or {})[style], message.content or ""
    assert answer == "".join(ANSWER)
    assert "Citations checked" in full and "✅ Course ready" in full


# -- a job of your own that prints after its answer began (served with JOBS) -------------------------


def late_printer(text: str) -> Iterator[dict[str, Any]]:
    """Test job: a line, the answer in two pieces with a line between them, a last line."""
    print(f"Thinking about {text}.")
    yield {"type": "content", "content": "First half, "}
    print("A line printed mid-answer.")
    yield {"type": "content", "content": "second half."}
    print("A line printed after the answer.")
    yield {"type": "complete", "results": {}}


@pytest.fixture(scope="module")
def own_job_server() -> Iterator[ServerProcess]:
    with ServerProcess({"JOBS": "late-printer=tests.integration.test_chat_reasoning:late_printer"}) as running:
        yield running


@pytest.mark.anyio
@pytest.mark.integration
@pytest.mark.parametrize("style", STYLES)
async def test_a_job_of_your_own_that_prints_after_its_answer(own_job_server: ServerProcess, style: str) -> None:
    chunks = await stream(own_job_server, style, "tea", model="late-printer")
    kinds, reasoning, answer = read_stream(chunks, style)
    thinking = ["reasoning", "reasoning"] if style == "think" else ["reasoning"]  # "think": then </think>
    assert kinds == [*thinking, "content", "content"], "the lines printed mid-answer and after it are not sent"
    assert reasoning.strip() == "Thinking about tea."
    assert answer == "First half, second half."

    with anyio.fail_after(30):
        async with client(own_job_server) as sdk:
            completion = await sdk.chat.completions.create(
                model="late-printer", messages=[{"role": "user", "content": "tea"}],
                extra_body={"reasoning_field": style},
            )
    message = completion.choices[0].message
    if style == "think":
        full, answer = split_think(message.content or "")
    else:
        full, answer = (message.model_extra or {})[style], message.content or ""
    assert answer == "First half, second half."
    lines = ["Thinking about tea.", "A line printed mid-answer.", "A line printed after the answer."]
    assert full.split("\n")[:3] == lines, "without streaming, every line is reasoning"
