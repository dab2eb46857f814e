"""The OpenAI Responses face: ``POST /v1/responses``, ``GET /v1/responses/{id}``, ``POST …/cancel``.

A response is a resumable job read through ``ResponseEvents``: every reading (a stream, a
resumed stream on any process, ``retrieve``, ``cancel``) replays the job's log from its
first entry, so each computes the same ``sequence_number`` for the same event. Replaying
costs what the log holds (``JOB_LOG_EVENTS``, ``JOB_LOG_CHARS``), once per reading.

A background response keeps a reader of its own in the process that started it, so that it
runs to its end with nobody connected (any other job is stopped after ``JOB_GRACE_PERIOD``
without a reader); ``cancel`` stops it. A streamed response that is not in the background
is an ordinary resumable job: a client that drops may resume it within the grace period.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

import capture

from .bodies import read_json_object
from .catalogue import DEFAULT_MODEL, find_model
from .errors import APIError
from .framing import JSONText, json_text
from .jobs import find_job
from .parsing import _prepare as prepare_job
from .reading import logged_entries, read_unless_gone
from .response_events import Numbered, ResponseEvents, job_id_of
from .runtime import Runtime, runtime

__all__ = ("cancel_response", "create_response", "retrieve_response")

ROUTE = "responses"
CLIENT_CLOSED_REQUEST = 499
_keepers: set[asyncio.Task[None]] = set()  # background responses' own readers, kept until their jobs end


def _input_text(value: Any, config_limit: int, most_items: int) -> str:
    """``input``: a string, or input items whose last user message's text parts are the subject."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        if len(value) > most_items:
            raise APIError(400, f"Too many input items: at most {most_items}.", param="input")
        found: str | None = None
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise APIError(400, f"'input[{index}]' must be an object.", param=f"input[{index}]")
            if item.get("role") != "user" or item.get("type", "message") != "message":
                continue  # assistant turns, tool outputs, reasoning items: context a job does not read
            content = item.get("content")
            if isinstance(content, str):
                found = content
            elif isinstance(content, list):
                found = "\n".join(
                    part["text"] for part in content
                    if isinstance(part, dict) and part.get("type") in ("input_text", "text")
                    and isinstance(part.get("text"), str)
                )
            else:
                param = f"input[{index}].content"
                raise APIError(400, f"'{param}' must be a string or a list of content parts.", param=param)
        if found is None:
            raise APIError(400, "'input' has no user message: its last one is the subject.", param="input")
        text = found
    else:
        raise APIError(400, "'input' must be a string or a list of input items.", param="input")
    if len(text) > config_limit:
        raise APIError(400, f"'input' is {len(text)} characters long; the limit is {config_limit}.",
                       param="input", code="input_too_long")
    return text


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise APIError(400, f"'{name}' must be a boolean.", param=name)
    return value


async def create_response(request: Request) -> Response:
    """``POST /v1/responses``. ``instructions`` is accepted and ignored: a job reads only its subject."""
    rt = runtime(request)
    payload = await read_json_object(request, rt.config.requests)
    model = find_model(rt.models, payload.get("model", DEFAULT_MODEL), "model")
    text = _input_text(payload.get("input"), rt.config.requests.max_input_chars, rt.config.requests.max_messages)
    stream, background = _flag(payload, "stream"), _flag(payload, "background")
    factory = prepare_job(model, text, "input")
    info = await rt.start_job(request, model, factory, resumable=True)
    if background:
        keeper = asyncio.get_running_loop().create_task(_read_to_end(rt, info.id), name=f"keeper:{info.id}")
        _keepers.add(keeper)
        keeper.add_done_callback(_keepers.discard)
    if stream:
        return _stream(rt, info, -1, background)
    if background:
        return JSONText(ResponseEvents(info, background=True).response("queued" if info.status == "queued"
                                                                      else "in_progress"))
    return await _wait_for_end(rt, request, info)


async def _read_to_end(rt: Runtime, job_id: str) -> None:
    async for _ in rt.registry.entries(job_id):
        pass


async def _job(request: Request) -> capture.JobInfo:
    """The job behind ``{response_id}``, as the jobs routes find one; 404 in OpenAI's shape."""
    response_id = request.path_params["response_id"]
    job_id = job_id_of(response_id)
    info = await find_job(request, job_id) if job_id is not None else None
    if info is None:
        raise APIError(404, f"No response with id '{response_id[:80]}' (unknown, or finished long ago).",
                       param="response_id", code="not_found")
    request.state.job_id = info.id
    return info


async def retrieve_response(request: Request) -> Response:
    """``GET /v1/responses/{id}``: the response as it stands; ``?stream=true&starting_after=N`` resumes."""
    rt = runtime(request)
    info = await _job(request)
    if request.query_params.get("stream", "false").lower() not in ("true", "1"):
        return await _as_it_stands(rt, info)
    raw = request.query_params.get("starting_after", "-1")
    try:
        after = int(raw)
    except ValueError:
        raise APIError(400, f"'starting_after' must be an integer, not '{raw[:40]}'.",
                       param="starting_after") from None
    return _stream(rt, info, after, None)


async def cancel_response(request: Request) -> Response:
    """``POST /v1/responses/{id}/cancel``: stop it; a finished response is answered as it was."""
    rt = runtime(request)
    info = await _job(request)
    await rt.registry.cancel(info.id, wait=1.0)
    info = await _job(request)
    return await _as_it_stands(rt, info)


async def _as_it_stands(rt: Runtime, info: capture.JobInfo) -> Response:
    events = await _snapshot(rt, info)
    # A job waiting for a worker has logged its place in the line, and is still "queued".
    return JSONText(events.response("queued" if info.status == "queued" and events.terminal is None else None))


async def _snapshot(rt: Runtime, info: capture.JobInfo) -> ResponseEvents:
    """The response built from every event the job has logged so far (without waiting for more)."""
    events = ResponseEvents(info, background=None)
    events.opening(info.status == "queued")
    if not info.last_seq:
        return events
    async with logged_entries(rt.registry, info.id) as entries:
        async for item in entries:
            events.feed(item)
            if (item.last if isinstance(item, capture.Gap) else item.seq) >= info.last_seq:
                break
    return events


def _encode(event: Numbered) -> bytes:
    return ServerSentEvent(data=json_text(event.body), event=event.type, sep="\n").encode()


def _stream(rt: Runtime, info: capture.JobInfo, after: int, background: bool | None) -> Response:
    return rt.event_stream(
        _events(rt, info, after, background), ROUTE, lambda: ServerSentEvent(comment="ping", sep="\n")
    )


async def _events(rt: Runtime, info: capture.JobInfo, after: int, background: bool | None) -> AsyncIterator[bytes]:
    """The events numbered after ``after``; the ones before are computed and not sent."""
    events = ResponseEvents(info, background=background)
    started = time.perf_counter()
    first = True
    with rt.tracked(ROUTE) as stream:
        for event in events.opening(info.status == "queued"):
            if event.seq > after:
                if first:
                    first = False
                    rt.metrics.first_event.labels(ROUTE).observe(time.perf_counter() - started)
                yield rt.metrics.sent(ROUTE, "lifecycle", _encode(event))
        async for item in rt.registry.entries(info.id):
            for event in events.feed(item):
                if event.seq > after:
                    yield rt.metrics.sent(ROUTE, _kind(event.type), _encode(event))
            if events.terminal is not None:
                stream.ended = True
                return


def _kind(event_type: str) -> str:
    """The metrics' kind of an event: what it carries."""
    if event_type.endswith("reasoning_summary_text.delta"):
        return "progress"
    if event_type.endswith("output_text.delta"):
        return "content"
    return "lifecycle"


async def _wait_for_end(rt: Runtime, request: Request, info: capture.JobInfo) -> Response:
    """``stream: false``: the whole response at the job's end, unless the client goes away first."""
    events = ResponseEvents(info, background=False)
    events.opening(info.status == "queued")
    answered = await read_unless_gone(request, rt.registry.entries(info.id), events.feed)
    if not answered:
        await rt.registry.cancel(info.id, wait=0)  # nobody will read this answer
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return JSONText(events.response())
