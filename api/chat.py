"""``POST /v1/chat/completions``: the OpenAI-compatible face.

Deliberate choices, not to be "fixed":

- No ``id:`` field on this route: the official SDK keeps the last event id and
  then turns every comment-only event into an empty data event it cannot parse.
- The default heartbeat is an empty-delta chunk (what the design this replaces
  sent): some chat clients only reset their read timeout on data events.
- A failure after the stream started is one ``data: {"error": …}`` event and the
  end of the stream, with no ``[DONE]``: that is what makes the SDK raise ``APIError``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import anyio
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

import capture

from .errors import RETRY_AFTER_S, APIError
from .framing import ChunkWriter, JSONText, data_event, stream_error
from .parsing import ChatRequest, parse_chat
from .runtime import Runtime, runtime

__all__ = ("chat_completions",)

ROUTE = "chat"


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
    if rt.config.heartbeat_style == "comment":
        return lambda: ServerSentEvent(comment="ping", sep="\n")
    return lambda: data_event(writer.chunk({}))


async def _chunks(
    rt: Runtime, chat: ChatRequest, job_id: str, writer: ChunkWriter, started: float
) -> AsyncIterator[bytes]:
    sent = rt.metrics.sent
    yield sent(ROUTE, "role", data_event(writer.chunk({"role": "assistant", "content": ""})).encode())
    completion: list[str] = []
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
                yield sent(ROUTE, "progress", writer.delta_event("reasoning_content", event.text))
            elif isinstance(event, capture.Content):
                completion.append(event.text)
                yield sent(ROUTE, "content", writer.delta_event("content", event.text))
            elif isinstance(event, capture.Error):
                stream.ended = True
                yield sent(ROUTE, "error", data_event(stream_error(event.message, _error_code(event.kind))).encode())
                return
            else:
                stream.ended = True
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
    async with anyio.create_task_group() as tg:

        async def cancel_on_disconnect() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

        tg.start_soon(cancel_on_disconnect)
        async for item in rt.registry.entries(job_id):
            event = item.event if isinstance(item, capture.Entry) else None
            if isinstance(event, capture.Progress):
                reasoning.append(event.text)
            elif isinstance(event, capture.Content):
                content.append(event.text)
            elif isinstance(event, capture.Error):
                failure = event
        tg.cancel_scope.cancel()
    if failure is not None:
        if failure.kind == "shutdown":
            raise APIError(
                503, failure.message, type="server_error", code="server_shutting_down",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        raise APIError(500, failure.message, type="server_error", code=failure.kind)
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
                    "message": {"role": "assistant", "content": answer, "reasoning_content": "".join(reasoning)},
                    "finish_reason": "stop",
                }
            ],
            "usage": writer.usage(chat.text, answer)["usage"],
        }
    )
