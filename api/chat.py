"""``POST /v1/chat/completions``: the OpenAI-compatible face.

Deliberate choices, not to be "fixed":

- No ``id:`` field on this route: the official SDK keeps the last event id and
  then turns every comment-only event into an empty data event it cannot parse.
- The default heartbeat is an empty-delta chunk (what the design this replaces
  sent): some chat clients only reset their read timeout on data events.
- A failure after the stream started is one ``data: {"error": …}`` event and the
  end of the stream, with no ``[DONE]``: that is what makes the SDK raise ``APIError``.
- What a job prints after the first piece of its answer is not sent as reasoning
  when streaming: chat clients (Open WebUI, LibreChat) open a new thinking box for
  reasoning that follows content, cutting the answer in pieces. It stays in the
  job's events (the EventSource routes send it) and in a ``stream: false`` answer's
  reasoning, where order cannot split anything.
- Where printed lines go is ``REASONING_FIELD``, or the request's ``reasoning_field``:
  ``reasoning_content`` (DeepSeek, vLLM), ``reasoning`` (OpenRouter, Ollama), or
  ``think``: ``<think>…</think>`` at the start of ``content``, for clients that read
  only ``content``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

import capture

from .app_config import ReasoningField
from .errors import APIError, shutting_down
from .framing import ChunkWriter, JSONText, data_event, stream_error
from .parsing import ChatRequest, parse_chat
from .reading import read_unless_gone
from .runtime import Runtime, runtime

__all__ = ("Deltas", "chat_completions")

ROUTE = "chat"
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left before the answer
# Why a job may end that says nothing of the next try: the server's own trouble.
_RETRYABLE = frozenset({"overloaded", "worker_lost", "store_unavailable"})
THINK_OPEN, THINK_CLOSE = "<think>\n", "</think>\n\n"


class Deltas:
    """What one stream's printed lines and answer pieces become: ``(kind, field, text)`` deltas
    (kind ``progress`` or ``content``, for the metrics) in one reasoning style."""

    def __init__(self, style: ReasoningField) -> None:
        self.style = style
        self.answering = False  # the first piece of the answer went out
        self.thinking = False  # "think": a <think> is open
        self.line_open = False  # the last printed text did not end its line

    def progress(self, text: str) -> Iterator[tuple[str, str, str]]:
        if self.answering:
            return  # printed after the answer began: not reasoning here (see the module's docstring)
        self.line_open = not text.endswith("\n")
        if self.style != "think":
            yield "progress", self.style, text
            return
        if not self.thinking:
            self.thinking = True
            text = THINK_OPEN + text
        yield "progress", "content", text

    def content(self, text: str) -> Iterator[tuple[str, str, str]]:
        yield from self.end()
        self.answering = True
        yield "content", "content", text

    def end(self) -> Iterator[tuple[str, str, str]]:
        """Close an open ``<think>``: before the first piece of the answer, or at the job's end."""
        if self.thinking:
            self.thinking = False
            yield "progress", "content", ("\n" if self.line_open else "") + THINK_CLOSE


def _message(style: ReasoningField, reasoning: str, answer: str) -> dict[str, Any]:
    """A ``stream: false`` answer's message, its reasoning where ``style`` puts it."""
    if style != "think":
        return {"role": "assistant", "content": answer, style: reasoning}
    if reasoning:
        newline = "" if reasoning.endswith("\n") else "\n"
        answer = f"{THINK_OPEN}{reasoning}{newline}{THINK_CLOSE}{answer}"
    return {"role": "assistant", "content": answer}


def _error_code(kind: str) -> str:
    """The ``code`` of an in-stream error: what OpenAI clients know, where there is an equivalent."""
    return "server_shutting_down" if kind == "shutdown" else kind


async def chat_completions(request: Request) -> Response:
    rt = runtime(request)
    started = time.perf_counter()
    chat = await parse_chat(request, rt.config, rt.models)
    job = await rt.start_job(request, chat.model, chat.job, resumable=False)
    if not chat.stream:
        return await _complete(rt, request, chat, job.id)
    writer = ChunkWriter(chat.model.id)
    return rt.event_stream(_chunks(rt, chat, job.id, writer, started), ROUTE, _heartbeat(rt, writer))


def _heartbeat(rt: Runtime, writer: ChunkWriter) -> Callable[[], ServerSentEvent]:
    if rt.config.streaming.heartbeat_style == "comment":
        return lambda: ServerSentEvent(comment="ping", sep="\n")
    return lambda: data_event(writer.chunk({}))


async def _chunks(
    rt: Runtime, chat: ChatRequest, job_id: str, writer: ChunkWriter, started: float
) -> AsyncIterator[bytes]:
    sent = rt.metrics.sent
    yield sent(ROUTE, "role", data_event(writer.chunk({"role": "assistant", "content": ""})).encode())
    completion: list[str] = []
    deltas = Deltas(chat.reasoning_field)
    first = True
    with rt.tracked(ROUTE) as stream:
        async for item in rt.registry.entries(job_id):
            if isinstance(item, capture.Gap):
                continue  # cannot happen: this job has one reader, attached from the start
            event = item.event
            if first:
                first = False
                rt.metrics.first_event.labels(ROUTE).observe(time.perf_counter() - started)
            if isinstance(event, capture.Progress):
                for kind, field, text in deltas.progress(event.text):
                    yield sent(ROUTE, kind, writer.delta_event(field, text))
            elif isinstance(event, capture.Content):
                completion.append(event.text)
                for kind, field, text in deltas.content(event.text):
                    yield sent(ROUTE, kind, writer.delta_event(field, text))
            elif isinstance(event, capture.Error):
                stream.ended = True
                yield sent(ROUTE, "error", data_event(stream_error(event.message, _error_code(event.kind))).encode())
                return
            else:
                stream.ended = True
                for kind, field, text in deltas.end():
                    yield sent(ROUTE, kind, writer.delta_event(field, text))
                yield sent(ROUTE, "finish", data_event(writer.chunk({}, finish_reason="stop")).encode())
                if chat.include_usage:
                    usage = writer.usage(chat.text, "".join(completion))
                    yield sent(ROUTE, "usage", data_event(usage).encode())
                yield sent(ROUTE, "done", b"data: [DONE]\n\n")
                return


async def _complete(rt: Runtime, request: Request, chat: ChatRequest, job_id: str) -> Response:
    """``stream: false``: wait for the job's end, or until the client goes away."""
    reasoning: list[str] = []
    content: list[str] = []
    failure: capture.Error | None = None

    def take(item: capture.Entry | capture.Gap) -> None:
        nonlocal failure
        event = item.event if isinstance(item, capture.Entry) else None
        if isinstance(event, capture.Progress):
            reasoning.append(event.text)
        elif isinstance(event, capture.Content):
            content.append(event.text)
        elif isinstance(event, capture.Error):
            failure = event

    answered = await read_unless_gone(request, rt.registry.entries(job_id), take)
    if not answered:
        # Nobody will read an answer: the access log says so as proxies do (499), not 200.
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    if failure is not None:
        if failure.kind == "shutdown":
            raise shutting_down(failure.message)
        # The openai SDK retries a 500 (twice by default): a job that failed or ran out of time
        # would run again, each time as long. Only the server's own trouble is worth a retry.
        headers = None if failure.kind in _RETRYABLE else {"x-should-retry": "false"}
        raise APIError(500, failure.message, type="server_error", code=failure.kind, headers=headers)
    writer = ChunkWriter(chat.model.id)
    answer = "".join(content)
    return JSONText(
        {
            "id": writer.id,
            "object": "chat.completion",
            "created": writer.created,
            "model": chat.model.id,
            "choices": [
                {
                    "index": 0,
                    "message": _message(chat.reasoning_field, "".join(reasoning), answer),
                    "finish_reason": "stop",
                }
            ],
            "usage": writer.usage(chat.text, answer)["usage"],
        }
    )
