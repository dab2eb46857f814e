"""The AI SDK face: ``POST /api/chat`` in the UI message stream protocol v1, and its resume.

What ``useChat`` (``DefaultChatTransport``, checked against the ``ai`` package's own
``uiMessageChunkSchema``) reads: ``data: <chunk JSON>`` events — ``start``; printed lines as
``reasoning-start`` / ``reasoning-delta`` / ``reasoning-end``; the answer as ``text-start`` /
``text-delta`` / ``text-end``; ``finish``, or an ``error`` part with ``errorText`` — then
``data: [DONE]``, with the header ``x-vercel-ai-ui-message-stream: v1``.

``GET /api/chat/{chatId}/stream`` is what ``useChat({resume: true})`` asks on load: the chat's
running job replayed from its start (the transport's ``resumeStreamIsReplay``), or 204 when
it has none. Chats are found in the process that started them (with ``REDIS_URL``, keep a
chat's requests on one process); the job itself is an ordinary resumable job.

Errors before the stream are answered with their status (``Retry-After`` on 429/503) and
their message as plain text: the transport makes ``Error(body)`` of it, which ``useChat``
shows as it is. Lines printed after the answer began are not sent (as on the OpenAI routes).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any
from weakref import WeakKeyDictionary

from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

import capture

from .auth import request_key
from .bodies import read_json_object
from .catalogue import DEFAULT_MODEL, find_model
from .errors import APIError
from .framing import json_text
from .jobs import find_job
from .parsing import _prepare as prepare_job
from .runtime import Runtime, runtime

__all__ = ("UIParts", "resume_ui_chat", "ui_chat")

ROUTE = "ui"
HEADERS = {"x-vercel-ai-ui-message-stream": "v1", "x-accel-buffering": "no", "Cache-Control": "no-cache"}
_CHATS_KEPT = 10_000  # chat ids remembered per process (the oldest go first)
_chats: WeakKeyDictionary[Runtime, OrderedDict[tuple[str, str], str]] = WeakKeyDictionary()


class UIParts:
    """A job's events as UI message chunks (a pure translator: the same log, the same chunks)."""

    def __init__(self, job_id: str) -> None:
        hex_part = job_id.removeprefix("job_")
        self.message_id = f"msg_{hex_part}"
        self.reasoning_id = f"reasoning_{hex_part}"
        self.text_id = f"text_{hex_part}"
        self.open: str | None = None  # "reasoning" or "text": the part being written
        self.answering = False
        self.ended = False

    def opening(self) -> list[dict[str, Any]]:
        return [{"type": "start", "messageId": self.message_id}]

    def _close(self) -> list[dict[str, Any]]:
        if self.open is None:
            return []
        part_id = self.reasoning_id if self.open == "reasoning" else self.text_id
        self.open = None
        return [{"type": f"{'reasoning' if part_id == self.reasoning_id else 'text'}-end", "id": part_id}]

    def feed(self, item: capture.Entry | capture.Gap) -> list[dict[str, Any]]:
        if isinstance(item, capture.Gap):
            return []  # lines no longer kept: the rest still reads as one message
        event = item.event
        if isinstance(event, capture.Progress):
            if self.answering:
                return []  # printed after the answer began (see the module's docstring)
            chunks = [] if self.open else [{"type": "reasoning-start", "id": self.reasoning_id}]
            self.open = "reasoning"
            return [*chunks, {"type": "reasoning-delta", "id": self.reasoning_id, "delta": event.text}]
        if isinstance(event, capture.Content):
            chunks = []
            if not self.answering:
                self.answering = True
                chunks = [*self._close(), {"type": "text-start", "id": self.text_id}]
                self.open = "text"
            return [*chunks, {"type": "text-delta", "id": self.text_id, "delta": event.text}]
        self.ended = True
        if isinstance(event, capture.Error):
            return [*self._close(), {"type": "error", "errorText": event.message}]
        return [*self._close(), {"type": "finish", "finishReason": "stop"}]


def _chats_of(rt: Runtime) -> OrderedDict[tuple[str, str], str]:
    chats = _chats.get(rt)
    if chats is None:
        chats = _chats[rt] = OrderedDict()
    return chats


def _chat_key(request: Request, chat_id: str) -> tuple[str, str]:
    """A chat id is the client's choice: with API keys on, one key's chat is not another's."""
    return request_key(request) or "-", chat_id


def _last_user_text(messages: Any, most: int) -> str:
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list of UI messages.", param="messages")
    if len(messages) > most:
        raise APIError(400, f"Too many messages: at most {most}.", param="messages")
    text: str | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise APIError(400, f"'messages[{index}]' must be an object.", param=f"messages[{index}]")
        if message.get("role") != "user":
            continue
        parts = message.get("parts")
        if not isinstance(parts, list):
            raise APIError(400, f"'messages[{index}].parts' must be a list.", param=f"messages[{index}].parts")
        text = "\n".join(
            part["text"] for part in parts
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        )
    if text is None:
        raise APIError(400, "There is no user message: the last one is the subject.", param="messages")
    return text


async def ui_chat(request: Request) -> Response:
    """``POST /api/chat``: ``{"id", "messages", "model"?}``; the last user message's text is the subject."""
    rt = runtime(request)
    try:
        payload = await read_json_object(request, rt.config.requests)
        chat_id = payload.get("id")
        if chat_id is not None and (not isinstance(chat_id, str) or not 0 < len(chat_id) <= 200):
            raise APIError(400, "'id' (the chat's id) must be a string of at most 200 characters.", param="id")
        model = find_model(rt.models, payload.get("model", DEFAULT_MODEL), "model")
        text = _last_user_text(payload.get("messages"), rt.config.requests.max_messages)
        if len(text) > rt.config.requests.max_input_chars:
            raise APIError(400, f"The subject is longer than {rt.config.requests.max_input_chars} characters.",
                           param="messages")
        info = await rt.start_job(request, model, prepare_job(model, text, "messages"), resumable=True)
    except APIError as refused:
        return PlainTextResponse(refused.message, status_code=refused.status, headers=refused.headers)
    if chat_id is not None:
        chats, key = _chats_of(rt), _chat_key(request, chat_id)
        chats[key] = info.id
        chats.move_to_end(key)
        while len(chats) > _CHATS_KEPT:
            chats.popitem(last=False)
    return _stream(rt, info.id)


async def resume_ui_chat(request: Request) -> Response:
    """``GET /api/chat/{chat_id}/stream``: the chat's running job from its start, or 204."""
    rt = runtime(request)
    job_id = _chats_of(rt).get(_chat_key(request, request.path_params["chat_id"]))
    info = await find_job(request, job_id) if job_id is not None else None
    if info is None or info.finished is not None:
        return Response(status_code=204)
    request.state.job_id = info.id
    return _stream(rt, info.id)


def _stream(rt: Runtime, job_id: str) -> Response:
    response = rt.event_stream(_chunks(rt, job_id), ROUTE, lambda: ServerSentEvent(comment="ping", sep="\n"))
    response.headers.update(HEADERS)
    return response


def _data(chunk: dict[str, Any]) -> bytes:
    return f"data: {json_text(chunk)}\n\n".encode()


async def _chunks(rt: Runtime, job_id: str) -> AsyncIterator[bytes]:
    parts = UIParts(job_id)
    started = time.perf_counter()
    with rt.tracked(ROUTE) as stream:
        for chunk in parts.opening():
            yield rt.metrics.sent(ROUTE, chunk["type"], _data(chunk))
        first = True
        async for item in rt.registry.entries(job_id):
            if first:
                first = False
                rt.metrics.first_event.labels(ROUTE).observe(time.perf_counter() - started)
            for chunk in parts.feed(item):
                yield rt.metrics.sent(ROUTE, chunk["type"], _data(chunk))
            if parts.ended:
                stream.ended = True
                yield rt.metrics.sent(ROUTE, "done", b"data: [DONE]\n\n")
                return
