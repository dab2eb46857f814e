"""The browser face: a job's named events (``progress``, ``content``, ``html``, ``complete``,
``error``, ``gap``) with ``id: <job>:<seq>``, so that an EventSource's automatic reconnect
resumes the same job exactly where it left off.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

import capture

from .errors import APIError, job_not_found
from .framing import encodable, json_text, sse_text
from .jobs import find_job
from .markdown import render_json, render_markdown
from .parsing import Resume, last_event_id, parse_subject
from .reading import logged_entries
from .runtime import Runtime, runtime

# How long a Last-Event-ID ahead of this process's view of a running job may take to come true.
CATCH_UP_SECONDS = 2.0

__all__ = ("course_stream", "job_events")


async def course_stream(request: Request) -> Response:
    """``GET /v1/courses/stream?subject=…&model=…``; a reconnect (``Last-Event-ID``) resumes its job."""
    rt = runtime(request)
    resume = last_event_id(request)
    if resume is not None:
        if await find_job(request, resume.job_id) is None:
            # The job is gone (expired, never existed, another key's): 204 tells the browser to stop.
            return Response(status_code=204)
        return await stream_job(rt, request, resume.job_id, resume, "courses")
    _refuse_other_sites(request, rt.config.auth.cors_origins)
    job = parse_subject(request, rt.config, rt.models)
    if request.method == "HEAD":
        return _head()  # a link checker or a proxy's probe: it must not start a job
    info = await rt.start_job(request, job.model, job.job, resumable=True)
    return await stream_job(rt, request, info.id, None, "courses")


def _refuse_other_sites(request: Request, allowed: tuple[str, ...]) -> None:
    """A GET needs no CORS preflight: without this, any page a visitor opens (an EventSource,
    an image tag) could start jobs on a server on their machine or network. Browsers say where
    a request comes from (``Sec-Fetch-Site``); other clients send no such header."""
    if request.headers.get("sec-fetch-site") != "cross-site":
        return
    if request.headers.get("origin") in allowed:
        return
    raise APIError(
        403,
        "A page on another site cannot start jobs on this server (CORS_ORIGINS lists the sites that may).",
        code="cross_site_request",
    )


async def job_events(request: Request) -> Response:
    """``GET /v1/jobs/{job_id}/events``."""
    rt = runtime(request)
    job_id = request.path_params["job_id"]
    if await find_job(request, job_id) is None:
        raise job_not_found(job_id)
    resume = last_event_id(request)
    if resume is not None and resume.job_id != job_id:
        raise APIError(400, "The Last-Event-ID belongs to another job.", param="Last-Event-ID")
    if request.method == "HEAD":
        return _head()
    return await stream_job(rt, request, job_id, resume, "jobs")


def _head() -> Response:
    """What a GET would answer, without its stream: the same status and content type."""
    return Response(media_type="text/event-stream", headers={"Cache-Control": "no-store"})


async def stream_job(rt: Runtime, request: Request, job_id: str, resume: Resume | None, route: str) -> Response:
    request.state.job_id = job_id
    info = await rt.registry.status(job_id)
    if info is None or (info.finished is not None and resume is not None and resume.seq >= info.last_seq):
        return Response(status_code=204)  # nothing left: the browser stops reconnecting
    if resume is not None and resume.seq > info.last_seq and not await _reaches(rt, job_id, resume.seq, info):
        # An id this job never sent: reading on from there would skip its terminal event and
        # wait for ever.
        raise APIError(400, f"Last-Event-ID is past this job's last event ({info.last_seq}).",
                       param="Last-Event-ID")
    return rt.event_stream(
        _named_events(rt, job_id, resume, route, time.perf_counter()),
        route,
        lambda: ServerSentEvent(comment="ping", sep="\n"),
    )


async def _reaches(rt: Runtime, job_id: str, seq: int, info: capture.JobInfo) -> bool:
    """Does the job's stream reach ``seq`` soon? A process reading a job that runs elsewhere hears
    of its events a moment after the job's own process sends them, so a client that read event
    ``seq`` there and reconnects here can be a little ahead of what this process knows."""
    if info.finished is not None:
        return False
    with anyio.move_on_after(CATCH_UP_SECONDS):
        async with logged_entries(rt.registry, job_id, info.last_seq) as entries:
            async for item in entries:
                if (item.last if isinstance(item, capture.Gap) else item.seq) >= seq:
                    return True
                if isinstance(item, capture.Entry) and isinstance(item.event, (capture.Complete, capture.Error)):
                    return False
    return False


async def _named_events(
    rt: Runtime, job_id: str, resume: Resume | None, route: str, started: float
) -> AsyncIterator[bytes]:
    """Named events with their ids; the first carries ``retry:`` so clients come back fast."""
    retry: int | None = rt.config.streaming.sse_retry_ms
    first = True
    skip_content = resume.seq if resume is not None and resume.html_pending else 0

    def event(kind: str, data: str, sse_id: str) -> bytes:
        nonlocal retry, first
        if first:
            first = False
            rt.metrics.first_event.labels(route).observe(time.perf_counter() - started)
        sse = ServerSentEvent(data=data, event=kind, id=sse_id, retry=retry, sep="\n")
        retry = None
        return rt.metrics.sent(route, kind, sse.encode())

    with rt.tracked(route) as stream:
        async for item in rt.registry.entries(job_id, resume.after if resume is not None else 0):
            if isinstance(item, capture.Gap):
                lost = {
                    "first": item.first,
                    "last": item.last,
                    "message": f"Events {item.first} to {item.last} are no longer kept (each job keeps its "
                    "latest events only), so some progress is missing here.",
                }
                yield event("gap", json_text(lost), f"{job_id}:{item.last}")
                continue
            seq, payload = item.seq, item.event
            sse_id = f"{job_id}:{seq}"
            if isinstance(payload, capture.Restarted):  # its worker was lost: it runs again from the start
                yield event("restarted", sse_text(payload.text), sse_id)
            elif isinstance(payload, capture.ProgressUpdate):  # a new state of the line before (a \r update)
                yield event("progress-update", sse_text(payload.text), sse_id)
            elif isinstance(payload, capture.Progress):
                yield event("progress", sse_text(payload.text), sse_id)
            elif isinstance(payload, capture.Content):
                if seq != skip_content:  # the client has it, but not its html
                    yield event("content", sse_text(payload.text), f"{sse_id}.md")
                # The same piece as HTML, for pages that show the course as it is written.
                html = await anyio.to_thread.run_sync(render_markdown, payload.text)
                yield event("html", sse_text(html), sse_id)
            elif isinstance(payload, capture.Error):
                stream.ended = True
                yield event("error", json_text({"message": payload.message, "kind": payload.kind}), sse_id)
            else:
                stream.ended = True
                yield event("complete", json_text(await _complete(rt, job_id, payload)), sse_id)


async def _complete(rt: Runtime, job_id: str, event: capture.Complete) -> dict[str, object]:
    info = await rt.registry.status(job_id)
    answer = info.answer if info is not None else ""
    markdown = str(event.results.get("markdown") or answer)
    # A job of your own that returned a value: its answer is JSON, not Markdown.
    render = render_json if "result" in event.results and "markdown" not in event.results else render_markdown
    return {
        "job": job_id,
        "model": info.model if info is not None else None,
        "markdown": markdown,
        "html": await anyio.to_thread.run_sync(render, markdown),
        "sources": encodable(event.results.get("sources", [])),
        "known": event.results.get("known") is not False,  # false: an honest "no course on that"
        "nearby": encodable(event.results.get("nearby", [])),  # what a declined subject came closest to
        "timings": encodable(event.results.get("timings", {})),
        "elapsed_ms": round(info.elapsed * 1000, 1) if info is not None else None,
    }
