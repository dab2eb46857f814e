"""The HTTP face: an OpenAI-compatible chat API and a browser EventSource route.

Data path, from a job's ``print()`` to a client's screen::

    agent code: print("Query 3/8 …")
      → capture's thread-local stdout proxy → the job's LineWriter (one line, one event)
      → bounded janus queue (worker thread → event loop)
      → capture.JobStream (async iterator of Progress / Content / Complete / Error)
      → this module: an OpenAI chunk (delta.reasoning_content) or a named SSE event
      → sse-starlette's EventSourceResponse (framing, heartbeat pings, disconnect)
      → uvicorn → the client

Deliberate choices, not to be "fixed":

- No ``id:`` field on the OpenAI route: the official SDK keeps the last event id
  and then turns every comment-only event into an empty data event it cannot parse.
- The OpenAI route's default heartbeat is an empty-delta chunk (what the design this
  replaces sent): some chat clients only reset their read timeout on data events.
- A failure after the stream started is one ``data: {"error": …}`` event and the end
  of the stream, with no ``[DONE]``: that is what makes the SDK raise ``APIError``.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from markdown_it import MarkdownIt
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sse_starlette import ServerSentEvent
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import capture
from auth import APIKeyMiddleware, StreamTokens, parse_list
from event_stream import EventStream, SendWatchdog
from observability import AccessLogMiddleware, Metrics, logfmt
from pipeline import (
    CourseConfig,
    KnowledgeBase,
    LLMSettings,
    open_default,
    parse_ticker_input,
    stream_course_generation_progress,
    ticker,
)

__all__ = ("Settings", "app", "create_app")

logger = logging.getLogger("service")


# -- settings -----------------------------------------------------------------------------


class Settings(BaseSettings):
    """Every setting is an environment variable of the same name in upper case."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    heartbeat_interval: float = Field(10.0, ge=0, description="seconds between heartbeats; 0 turns them off")
    heartbeat_style: Literal["chunk", "comment"] = Field(
        "chunk", description="OpenAI route: an empty-delta chunk, or an SSE comment"
    )
    job_queue_size: int = Field(256, ge=1, description="events a job may get ahead of its client")
    knowledge_base: Path | None = Field(None, description="knowledge-base file (default data/knowledge.sqlite3)")
    echo_job_output: bool = Field(False, description="copy job output to the server console, prefixed per job")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="largest accepted request body")
    max_input_chars: int = Field(4000, ge=1, description="longest subject or last user message")
    max_messages: int = Field(256, ge=1, description="most messages in one chat request")
    job_grace_period: float = Field(30.0, ge=0, description="seconds a job waits for its reader to reconnect")
    job_retention: float = Field(300.0, ge=0, description="seconds a finished job can still be read")
    job_log_events: int = Field(10_000, ge=10, description="events kept per job for resuming")
    job_log_chars: int = Field(1 << 20, ge=1024, description="characters kept per job for resuming")
    max_finished_jobs: int = Field(256, ge=0, description="finished jobs kept at most")
    sse_retry_ms: int = Field(1000, ge=0, description="the reconnect delay sent to EventSource clients")
    shutdown_grace_period: float = Field(
        5.0, ge=0, description="seconds open streams get to say goodbye when the server stops"
    )
    max_concurrent_jobs: int = Field(64, ge=1, description="jobs running at once")
    max_queued_jobs: int = Field(256, ge=0, description="jobs waiting for a free worker; beyond: 429")
    job_timeout: float = Field(600.0, ge=0, description="seconds a job may run before it is stopped (0: no limit)")
    max_event_chars: int = Field(64 * 1024, ge=256, description="printed characters in one progress event")
    send_timeout: float = Field(
        30.0, ge=0, description="seconds a client may stop reading before its stream is closed (0: never)"
    )
    api_keys: str = Field("", description="comma-separated API keys; empty: no authentication")
    stream_token_ttl: float = Field(600.0, gt=0, description="seconds a stream token stays valid")
    stream_token_secret: str = Field(
        "", description="secret that signs stream tokens (empty: random per process)"
    )
    cors_origins: str = Field("", description="comma-separated origins allowed to call the API from a browser")
    llm_base_url: str = Field("", description="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    llm_model: str = Field("", description="the model to ask there")
    llm_api_key: str = Field("", description="its API key, if it needs one")
    llm_timeout: float = Field(60.0, gt=0, description="seconds to connect, and between two pieces of its answer")
    llm_max_retries: int = Field(2, ge=0, description="retries for failures before any token arrived")
    llm_fallback: bool = Field(False, description="on an upstream failure, use the embedded generator instead")

    @model_validator(mode="after")
    def _llm_needs_a_model(self) -> Settings:
        if self.llm_base_url and not self.llm_model:
            raise ValueError("LLM_BASE_URL is set, so LLM_MODEL must say which model to use")
        return self

    def llm(self) -> LLMSettings | None:
        """The language model the course generator writes with, if one is configured."""
        if not self.llm_base_url:
            return None
        return LLMSettings(
            base_url=self.llm_base_url,
            model=self.llm_model,
            api_key=self.llm_api_key,
            timeout=self.llm_timeout,
            max_retries=self.llm_max_retries,
            fallback=self.llm_fallback,
        )

    @field_validator("cors_origins")
    @classmethod
    def _no_null_origin(cls, value: str) -> str:
        # "null" is the origin of sandboxed iframes and file:// pages: allowing it allows anyone.
        if "null" in [origin.lower() for origin in parse_list(value)]:
            raise ValueError("CORS_ORIGINS must not contain 'null'")
        return value


# -- errors in the client's conventions ---------------------------------------------------


class APIError(Exception):
    """An error answered before any streaming, as an OpenAI error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 and friends, in the same JSON shape as every other error."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return APIError(exc.status_code, str(exc.detail), code=code, headers=exc.headers).response()


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return APIError(500, "The server had an error while processing your request.", type="server_error").response()


# -- models: which job serves which name ---------------------------------------------------

JobFactory = Callable[[], Iterator[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    description: str
    backend: str  # what does the work: "embedded", or which language model
    prepare: Callable[[str], JobFactory]  # validates the input text; raises APIError


def _course_preparer(config: CourseConfig) -> Callable[[str], JobFactory]:
    def prepare(text: str) -> JobFactory:
        subject = " ".join(text.split())
        if not subject:
            raise APIError(400, "The subject is empty: say what the course should be about.", param="messages")
        return functools.partial(stream_course_generation_progress, subject, config)

    return prepare


def _prepare_ticker(text: str) -> JobFactory:
    try:
        spec = parse_ticker_input(text)
    except ValueError as exc:
        raise APIError(400, str(exc), param="messages") from None
    return functools.partial(ticker, spec)


def build_models(settings: Settings) -> dict[str, Model]:
    """The models this server offers: ``course-generator`` uses the configured language model, if any."""
    embedded = CourseConfig(knowledge_base=settings.knowledge_base)
    course = "Writes a course from the knowledge base (input: the subject)."
    models = []
    llm = settings.llm()
    if llm is not None:
        with_llm = CourseConfig(knowledge_base=settings.knowledge_base, llm=llm)
        models.append(Model("course-generator", course, f"llm: {llm.describe()}", _course_preparer(with_llm)))
        models.append(Model("course-generator-embedded", course, "embedded", _course_preparer(embedded)))
    else:
        models.append(Model("course-generator", course, "embedded", _course_preparer(embedded)))
    models.append(
        Model(
            "ticker",
            'Diagnostic: prints "tick <i> <time_ns> <token>" lines '
            '(input: {"ticks": int, "interval": seconds, "token": str}).',
            "embedded",
            _prepare_ticker,
        )
    )
    return {m.id: m for m in models}


DEFAULT_MODEL = "course-generator"
_CREATED = int(time.time())


def _find_model(models: dict[str, Model], name: Any, param: str) -> Model:
    if not isinstance(name, str) or not name:
        raise APIError(400, f"'{param}' must be a non-empty string.", param=param)
    model = models.get(name)
    if model is None:
        raise APIError(
            404,
            f"The model '{name}' does not exist. Available: {', '.join(models)}.",
            param=param,
            code="model_not_found",
        )
    return model


# -- request parsing ----------------------------------------------------------------------


async def _read_json(request: Request, settings: Settings) -> Any:
    """The body as JSON, refusing bodies over the size limit before reading them whole."""
    declared = request.headers.get("content-length")
    too_large = APIError(
        413, f"The request body is larger than {settings.max_body_bytes} bytes.", code="request_too_large"
    )
    if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body_bytes:
                raise too_large
    except ClientDisconnect:
        raise APIError(400, "The client went away while sending the request.") from None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise APIError(400, f"The request body is not valid JSON: {exc}.") from None


def _message_text(content: Any, index: int) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    param = f"messages[{index}].content"
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise APIError(400, f"Each part of '{param}' must be an object with a 'type'.", param=param)
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    raise APIError(400, f"A text part of '{param}' must have a string 'text'.", param=param)
                texts.append(part["text"])
        return "\n".join(texts)
    raise APIError(400, f"'{param}' must be a string or a list of content parts.", param=param)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: Model
    text: str
    stream: bool
    include_usage: bool


def _parse_chat(payload: Any, settings: Settings, models: dict[str, Model]) -> ChatRequest:
    if not isinstance(payload, dict):
        raise APIError(400, "The request body must be a JSON object.")
    model = _find_model(models, payload.get("model"), "model")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list of messages.", param="messages")
    if len(messages) > settings.max_messages:
        raise APIError(400, f"Too many messages: at most {settings.max_messages}.", param="messages")
    text: str | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise APIError(400, f"'messages[{index}]' must be an object with a 'role'.", param=f"messages[{index}]")
        if message["role"] == "user":
            text = _message_text(message.get("content"), index)
    if text is None:
        raise APIError(400, "There is no user message: the last one is the input.", param="messages")
    if len(text) > settings.max_input_chars:
        raise APIError(
            400,
            f"The last user message is {len(text)} characters long; the limit is {settings.max_input_chars}.",
            param="messages",
            code="input_too_long",
        )
    stream = payload.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise APIError(400, "'stream' must be a boolean.", param="stream")
    options = payload.get("stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, dict):
            raise APIError(400, "'stream_options' must be an object.", param="stream_options")
        include_usage = options.get("include_usage", False)
        if not isinstance(include_usage, bool):
            raise APIError(400, "'stream_options.include_usage' must be a boolean.", param="stream_options")
    return ChatRequest(model, text, stream, include_usage)


# -- OpenAI chunk formatting -----------------------------------------------------------------

_TOKEN = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """Words and punctuation marks: an honest estimate, since no language model tokenised anything."""
    return len(_TOKEN.findall(text))


# JSON leaves U+0085, U+2028 and U+2029 unescaped, but line-based clients (httpx, and so
# httpx-sse) end a line there: escaped, a chunk stays one line for every client.
_JSON_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_JSON_LINE_BREAK = re.compile("[\x85\u2028\u2029]")


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # A regex scan finds nothing fast; translate() only when there is something to escape.
    return text.translate(_JSON_LINE_BREAKS) if _JSON_LINE_BREAK.search(text) else text


# Event-stream data is text; SSE turns CR and CRLF into line breaks, and common clients also
# break lines at these (str.splitlines does). Normalised to "\n", the text reads the same in
# every client, and no printed character can end a field early or start a forged one.
_TEXT_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def sse_text(text: str) -> str:
    """Printed text as event-stream data: every kind of line break becomes "\\n"."""
    return _TEXT_LINE_BREAK.sub("\n", text)


def _data(payload: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(data=_json(payload), sep="\n")


class ChunkWriter:
    """Builds the ``chat.completion.chunk`` objects of one stream (one id, one created)."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{secrets.token_hex(12)}"
        self.created = int(time.time())
        self.model = model
        # Progress and content chunks are most of a stream: they are encoded as a
        # fixed prefix and suffix around the JSON of their text, which is what
        # json.dumps of ``chunk()`` gives byte for byte (a test checks it).
        head = _json({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": model})
        self._prefix = f'data: {head[:-1]},"choices":[{{"index":0,"delta":{{"'.encode()
        self._suffix = b'},"finish_reason":null}]}\n\n'

    def delta_event(self, field: str, text: str) -> bytes:
        """The SSE bytes of a chunk whose delta is ``{field: text}``."""
        return b"".join(
            (self._prefix, field.encode(), b'":', _json(text).encode(), self._suffix)
        )

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def usage(self, prompt: str, completion: str) -> dict[str, Any]:
        prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(completion)
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _stream_error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error", "param": None, "code": kind}}


# -- the app ------------------------------------------------------------------------------------

_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_markdown(text: str) -> str:
    """Markdown to HTML with raw HTML off: a document or a subject can never inject markup."""
    return str(_markdown.render(text))


class Service:
    """The routes, bound to one ``Settings`` and one job registry."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models = build_models(settings)
        self.registry: capture.JobRegistry = capture.MemoryJobRegistry(
            capture.RegistryLimits(
                grace_period=settings.job_grace_period,
                retention=settings.job_retention,
                log_events=settings.job_log_events,
                log_chars=settings.job_log_chars,
                max_finished=settings.max_finished_jobs,
                max_running=settings.max_concurrent_jobs,
                max_waiting=settings.max_queued_jobs,
                max_run_time=settings.job_timeout,
                max_event_chars=settings.max_event_chars,
            ),
            queue_size=settings.job_queue_size,
            echo=settings.echo_job_output,
            on_finish=self._job_finished,
        )
        self.metrics = Metrics(jobs_running=self.registry.running, jobs_waiting=self.registry.waiting)
        secret = settings.stream_token_secret.encode() or secrets.token_bytes(32)
        self.tokens = StreamTokens(secret, settings.stream_token_ttl)
        self.shutting_down = False
        self.send_watchdog = SendWatchdog()
        # Set (by sse-starlette, on every open stream) when the server is told to stop.
        self.shutdown_event: anyio.Event | None = None

    def _start(self, request: Request, model: Model, job: JobFactory, *, resumable: bool) -> capture.Job:
        """Start a job; one that is not resumable runs while its one reader reads, and stops when it leaves."""
        if self.shutting_down:
            self.metrics.errors.labels("shutting_down").inc()
            raise APIError(
                503,
                "The server is shutting down; try again in a moment.",
                type="server_error",
                code="server_shutting_down",
                headers={"Retry-After": "5"},
            )
        request_id = str(request.state.request_id) if hasattr(request.state, "request_id") else ""
        try:
            started = self.registry.start(
                job,
                model.id,
                grace_period=None if resumable else 0,
                direct=not resumable,
                tags={"request_id": request_id} if request_id else None,
            )
        except capture.Overloaded as busy:
            self.metrics.errors.labels("overloaded").inc()
            raise APIError(
                429,
                f"The server is busy: {busy.running} jobs running and {busy.waiting} waiting for a worker. "
                "Try again in a few seconds.",
                type="rate_limit_exceeded",
                code="server_overloaded",
                headers={"Retry-After": "5"},
            ) from None
        request.state.job_id = started.id
        return started

    def _job_finished(self, job: capture.Job) -> None:
        """One log line per job, and its duration by outcome."""
        elapsed = (job.finished or time.time()) - job.created
        outcome = job.status
        self.metrics.job_duration.labels(job.model, outcome).observe(elapsed)
        if isinstance(job.terminal, capture.Error):
            self.metrics.errors.labels(job.terminal.kind).inc()
        logger.info(
            logfmt(
                event="job",
                job=job.id,
                model=job.model,
                outcome=outcome,
                duration_ms=elapsed * 1000,
                events=job.last_seq,
                request_id=job.tags.get("request_id"),
                error=job.terminal.message if isinstance(job.terminal, capture.Error) else None,
                reason="shutdown" if outcome == "cancelled" and self.shutting_down else None,
            )
        )

    async def begin_shutdown(self) -> None:
        """The server was told to stop: end every job, so every stream says goodbye and ends cleanly."""
        if self.shutting_down:
            return
        self.shutting_down = True
        logger.info(logfmt(event="shutdown", jobs_running=self.registry.running()))
        self.registry.cancel_all()

    def _stream(self, content: AsyncIterator[bytes], route: str, ping: Callable[[], ServerSentEvent]) -> Response:
        """An event stream with heartbeats, a cooperative shutdown, and metrics."""

        def heartbeat() -> ServerSentEvent:
            self.metrics.heartbeats_sent.labels(route).inc()
            return ping()

        return EventStream(
            content,
            metrics=self.metrics,
            watchdog=self.send_watchdog,
            ping=self.settings.heartbeat_interval,
            ping_message_factory=heartbeat,
            sep="\n",
            send_timeout=self.settings.send_timeout or None,
            shutdown_event=self.shutdown_event,
            shutdown_grace_period=self.settings.shutdown_grace_period,
        )

    def _stream_opened(self, route: str) -> dict[str, bool]:
        """Count a stream while it is open (pair with ``_stream_closed`` in a ``finally``)."""
        self.metrics.active_streams.labels(route).inc()
        return {"ended": False}

    def _stream_closed(self, route: str, state: dict[str, bool]) -> None:
        """A stream that closes before its job's end lost its client (unless the server is stopping)."""
        self.metrics.active_streams.labels(route).dec()
        if not state["ended"] and not self.shutting_down:
            self.metrics.client_disconnects.labels(route).inc()

    def _goodbye_message(self) -> str:
        self.metrics.errors.labels("shutdown").inc()
        return "The server is shutting down; the stream ends here. Please try again in a moment."

    # GET /healthz
    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "shutting down" if self.shutting_down else "ok"})

    # POST /v1/stream-tokens
    async def stream_token(self, request: Request) -> Response:
        """A short-lived token for opening event streams where no header can be sent (EventSource)."""
        token, expires = self.tokens.issue()
        return JSONResponse(
            {"token": token, "expires_at": expires, "expires_in": int(self.tokens.ttl)},
            headers={"Cache-Control": "no-store"},
        )

    # GET /metrics
    async def metrics_endpoint(self, request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    # GET /v1/knowledge-base
    async def knowledge_base(self, request: Request) -> Response:
        """What the course generator knows, for people (the file's path stays private)."""

        def describe() -> dict[str, Any]:
            with KnowledgeBase(self.settings.knowledge_base) as kb:
                return {"description": kb.describe(), "documents": kb.counts()}

        try:
            return JSONResponse(await anyio.to_thread.run_sync(describe))
        except sqlite3.Error as exc:
            logger.error("knowledge base unavailable: %s", exc)
            raise APIError(503, "The knowledge base is unavailable.", type="server_error") from None

    # GET /v1/models
    async def list_models(self, request: Request) -> Response:
        data = [
            {
                "id": m.id,
                "object": "model",
                "created": _CREATED,
                "owned_by": "course-stream",
                "description": m.description,
                "backend": m.backend,
            }
            for m in self.models.values()
        ]
        return JSONResponse({"object": "list", "data": data})

    # -- the OpenAI face ------------------------------------------------------------------

    # POST /v1/chat/completions
    async def chat_completions(self, request: Request) -> Response:
        started = time.perf_counter()
        chat = _parse_chat(await _read_json(request, self.settings), self.settings, self.models)
        job = self._start(request, chat.model, chat.model.prepare(chat.text), resumable=False)
        if not chat.stream:
            return await self._complete(request, chat, job)
        writer = ChunkWriter(chat.model.id)
        return self._stream(self._chunks(chat, job, writer, started), "chat", self._heartbeat_factory(writer))

    def _heartbeat_factory(self, writer: ChunkWriter) -> Callable[[], ServerSentEvent]:
        if self.settings.heartbeat_style == "comment":
            return lambda: ServerSentEvent(comment="ping", sep="\n")
        return lambda: _data(writer.chunk({}))

    async def _chunks(
        self, chat: ChatRequest, job: capture.Job, writer: ChunkWriter, started: float
    ) -> AsyncIterator[bytes]:
        sent = self.metrics.sent
        yield sent("chat", "role", _data(writer.chunk({"role": "assistant", "content": ""})).encode())
        completion: list[str] = []
        first = True
        stream = self._stream_opened("chat")
        try:
            async for item in job.entries():
                if isinstance(item, capture.Gap):
                    continue  # cannot happen: this job has one reader, attached from the start
                event = item.event
                if first:
                    first = False
                    self.metrics.first_event.labels("chat").observe(time.perf_counter() - started)
                if isinstance(event, capture.Progress):
                    yield sent("chat", "progress", writer.delta_event("reasoning_content", event.text))
                elif isinstance(event, capture.Content):
                    completion.append(event.text)
                    yield sent("chat", "content", writer.delta_event("content", event.text))
                elif isinstance(event, capture.Error):
                    stream["ended"] = True
                    yield sent("chat", "error", _data(_stream_error(event.message, event.kind)).encode())
                    return
                else:
                    stream["ended"] = True
                    yield sent("chat", "finish", _data(writer.chunk({}, finish_reason="stop")).encode())
                    if chat.include_usage:
                        yield sent("chat", "usage", _data(writer.usage(chat.text, "".join(completion))).encode())
                    yield sent("chat", "done", b"data: [DONE]\n\n")
                    return
            if self.shutting_down:
                stream["ended"] = True
                goodbye = _stream_error(self._goodbye_message(), "server_shutting_down")
                yield sent("chat", "error", _data(goodbye).encode())
        finally:
            self._stream_closed("chat", stream)

    async def _complete(self, request: Request, chat: ChatRequest, job: capture.Job) -> Response:
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
            async for item in job.entries():
                event = item.event if isinstance(item, capture.Entry) else None
                if isinstance(event, capture.Progress):
                    reasoning.append(event.text)
                elif isinstance(event, capture.Content):
                    content.append(event.text)
                elif isinstance(event, capture.Error):
                    failure = event
            tg.cancel_scope.cancel()
        if failure is not None:
            return APIError(500, failure.message, type="server_error", code=failure.kind).response()
        if job.status == "cancelled" and self.shutting_down:
            return APIError(
                503, self._goodbye_message(), type="server_error", code="server_shutting_down",
                headers={"Retry-After": "5"},
            ).response()
        writer = ChunkWriter(chat.model.id)
        answer = "".join(content)
        usage = writer.usage(chat.text, answer)["usage"]
        return JSONResponse(
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
                "usage": usage,
            }
        )

    # -- the EventSource face and jobs as resources -------------------------------------------

    # GET /v1/courses/stream?subject=…&model=…
    async def course_stream(self, request: Request) -> Response:
        """A job's named events; a browser's automatic reconnect resumes the same job."""
        resume = _last_event_id(request)
        if resume is not None:
            job = self.registry.get(resume[0])
            if job is None:
                # The job is gone (expired or never existed): 204 tells the browser to stop.
                return Response(status_code=204)
            request.state.job_id = job.id
            return self._resume(job, resume[1], "courses")
        model = _find_model(self.models, request.query_params.get("model", DEFAULT_MODEL), "model")
        subject = request.query_params.get("subject", "")
        if len(subject) > self.settings.max_input_chars:
            raise APIError(
                400, f"The subject is longer than {self.settings.max_input_chars} characters.", param="subject"
            )
        try:
            factory = model.prepare(subject)
        except APIError as exc:
            exc.param = "subject"
            raise
        return self._resume(self._start(request, model, factory, resumable=True), 0, "courses")

    # POST /v1/jobs  {"model": …, "input": …}
    async def create_job(self, request: Request) -> Response:
        payload = await _read_json(request, self.settings)
        if not isinstance(payload, dict):
            raise APIError(400, "The request body must be a JSON object.")
        model = _find_model(self.models, payload.get("model", DEFAULT_MODEL), "model")
        text = payload.get("input")
        if not isinstance(text, str):
            raise APIError(400, "'input' must be a string (the subject, or the ticker's JSON).", param="input")
        if len(text) > self.settings.max_input_chars:
            raise APIError(400, f"'input' is longer than {self.settings.max_input_chars} characters.", param="input")
        try:
            factory = model.prepare(text)
        except APIError as exc:
            exc.param = "input"
            raise
        job = self._start(request, model, factory, resumable=True)
        events_url = f"/v1/jobs/{job.id}/events"
        return JSONResponse(
            {**job.describe(), "events_url": events_url},
            status_code=201,
            headers={"Location": f"/v1/jobs/{job.id}"},
        )

    def _job(self, request: Request) -> capture.Job:
        job_id = request.path_params["job_id"]
        job = self.registry.get(job_id)
        if job is None:
            raise APIError(404, f"No job '{job_id}' (unknown, or finished long ago).", param="job_id",
                           code="job_not_found")
        return job

    # GET /v1/jobs/{job_id}
    async def get_job(self, request: Request) -> Response:
        job = self._job(request)
        return JSONResponse({**job.describe(), "events_url": f"/v1/jobs/{job.id}/events"})

    # DELETE /v1/jobs/{job_id}
    async def delete_job(self, request: Request) -> Response:
        job = self._job(request)
        await job.stop()
        return JSONResponse(job.describe())

    # GET /v1/jobs/{job_id}/events
    async def job_events(self, request: Request) -> Response:
        job = self._job(request)
        resume = _last_event_id(request)
        after = 0
        if resume is not None:
            if resume[0] != job.id:
                raise APIError(400, "The Last-Event-ID belongs to another job.", param="Last-Event-ID")
            after = resume[1]
        request.state.job_id = job.id
        return self._resume(job, after, "jobs")

    def _resume(self, job: capture.Job, after: int, route: str) -> Response:
        if job.finished is not None and after >= job.last_seq:
            return Response(status_code=204)  # nothing left: the browser stops reconnecting
        return self._stream(
            self._named_events(job, after, route, time.perf_counter()),
            route,
            lambda: ServerSentEvent(comment="ping", sep="\n"),
        )

    async def _named_events(
        self, job: capture.Job, after: int, route: str, started: float
    ) -> AsyncIterator[bytes]:
        """Named events with ``id: <job>:<seq>``; the first carries ``retry:`` so clients come back fast."""
        retry: int | None = self.settings.sse_retry_ms
        first = True

        def event(kind: str, data: str, seq: int | None) -> bytes:
            nonlocal retry, first
            if first:
                first = False
                self.metrics.first_event.labels(route).observe(time.perf_counter() - started)
            sse_id = f"{job.id}:{seq}" if seq is not None else None
            sse = ServerSentEvent(data=data, event=kind, id=sse_id, retry=retry, sep="\n")
            retry = None
            return self.metrics.sent(route, kind, sse.encode())

        stream = self._stream_opened(route)
        try:
            async for item in job.entries(after):
                if isinstance(item, capture.Gap):
                    lost = {
                        "first": item.first,
                        "last": item.last,
                        "message": f"Events {item.first} to {item.last} are no longer kept: "
                        "the connection was away too long, so some progress is missing here.",
                    }
                    yield event("gap", json.dumps(lost), item.last)
                    continue
                seq, payload = item.seq, item.event
                if isinstance(payload, capture.Progress):
                    yield event("progress", sse_text(payload.text), seq)
                elif isinstance(payload, capture.Content):
                    yield event("content", sse_text(payload.text), seq)
                    # The same piece as HTML, for pages that show the course as it is
                    # written (same id: it is part of the same event for resuming).
                    html = await anyio.to_thread.run_sync(render_markdown, payload.text)
                    yield event("html", sse_text(html), seq)
                elif isinstance(payload, capture.Error):
                    stream["ended"] = True
                    yield event("error", json.dumps({"message": payload.message, "kind": payload.kind}), seq)
                else:
                    stream["ended"] = True
                    markdown = str(payload.results.get("markdown") or "".join(job.answer))
                    complete = {
                        "job": job.id,
                        "model": job.model,
                        "markdown": markdown,
                        "html": await anyio.to_thread.run_sync(render_markdown, markdown),
                        "sources": payload.results.get("sources", []),
                        "timings": payload.results.get("timings", {}),
                        "elapsed_ms": round(((job.finished or time.time()) - job.created) * 1000, 1),
                    }
                    yield event("complete", _json(complete), seq)
            if self.shutting_down and not stream["ended"]:
                stream["ended"] = True
                # No id: a reconnect (to a restarted server) should not skip anything.
                goodbye = {"message": self._goodbye_message(), "kind": "shutdown"}
                yield event("error", json.dumps(goodbye), None)
        finally:
            self._stream_closed(route, stream)


_EVENT_ID = re.compile(r"(job_[0-9a-f]{1,64}):(\d{1,12})")


def _last_event_id(request: Request) -> tuple[str, int] | None:
    """The (job, sequence) a reconnecting client has seen: ``Last-Event-ID``, or the
    ``last_event_id`` query parameter for clients that cannot set headers."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if not raw:
        return None
    match = _EVENT_ID.fullmatch(raw.strip())
    if match is None:
        raise APIError(400, "Last-Event-ID must look like 'job_…:<number>'.", param="Last-Event-ID")
    return match.group(1), int(match.group(2))


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        capture.install()
        # Index the knowledge base before taking requests, so the first course does not
        # pay for it. A failure here is logged, not fatal: jobs will report it clearly.
        try:
            await anyio.to_thread.run_sync(_prepare_knowledge_base, settings.knowledge_base)
        except Exception:
            logger.exception("the knowledge base could not be prepared; courses will fail until it is fixed")
        _tune_garbage_collector()
        # One event for every open stream: sse-starlette sets it when the server is told to
        # stop, lets each stream finish within SHUTDOWN_GRACE_PERIOD, then cuts what is left.
        service.shutdown_event = anyio.Event()

        async def on_shutdown_signal() -> None:
            assert service.shutdown_event is not None
            await service.shutdown_event.wait()
            await service.begin_shutdown()

        watcher = asyncio.get_running_loop().create_task(on_shutdown_signal(), name="shutdown-watcher")
        try:
            yield
        finally:
            watcher.cancel()
            service.send_watchdog.close()
            service.shutting_down = True
            await service.registry.aclose()

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        APIError: _api_error,
        HTTPException: _http_error,
        Exception: _unexpected_error,
    }
    return Starlette(
        routes=[
            Route("/", _page, methods=["GET"]),
            Mount("/static", StaticFiles(directory=WEB), name="static"),
            Route("/healthz", service.healthz, methods=["GET"]),
            Route("/metrics", service.metrics_endpoint, methods=["GET"]),
            Route("/v1/knowledge-base", service.knowledge_base, methods=["GET"]),
            Route("/v1/models", service.list_models, methods=["GET"]),
            Route("/v1/chat/completions", service.chat_completions, methods=["POST"]),
            Route("/v1/courses/stream", service.course_stream, methods=["GET"]),
            Route("/v1/jobs", service.create_job, methods=["POST"]),
            Route("/v1/stream-tokens", service.stream_token, methods=["POST"]),
            Route("/v1/jobs/{job_id}", service.get_job, methods=["GET"]),
            Route("/v1/jobs/{job_id}", service.delete_job, methods=["DELETE"]),
            Route("/v1/jobs/{job_id}/events", service.job_events, methods=["GET"]),
        ],
        exception_handlers=handlers,
        middleware=_middleware(settings, service),
        lifespan=lifespan,
    )


def _middleware(settings: Settings, service: Service) -> list[Middleware]:
    """Outermost first: CORS (so preflights need no credentials), the access log, then API keys."""
    stack = []
    origins = parse_list(settings.cors_origins)
    if origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_credentials=False,  # keys travel in headers, never in cookies
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After", "Location"],
                max_age=600,
            )
        )
    stack.append(Middleware(AccessLogMiddleware, metrics=service.metrics))
    keys = parse_list(settings.api_keys)
    if keys:  # without keys it would only hold a frame per open stream
        stack.append(Middleware(APIKeyMiddleware, keys=keys, tokens=service.tokens))
    return stack


WEB = Path(__file__).resolve().parent / "web"


async def _page(request: Request) -> Response:
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


def _tune_garbage_collector() -> None:
    """Keep full collections from stalling the event loop when thousands of streams are open.

    Each open stream holds a few hundred container objects (tasks, scopes, queue
    primitives); with 10,000 streams a full collection walks millions of them and
    held heartbeats back by over a second in ``make bench``.  Objects that live as
    long as the process are frozen out of collections, and young collections run
    every 50,000 allocations instead of 700: with both, heartbeat lateness at
    10,000 open streams fell from 1.7 s to under 0.3 s (p99; see BENCHMARKS.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)


def _prepare_knowledge_base(path: Path | None) -> None:
    kb = open_default(path, progress=lambda line: logger.info("%s", line))
    try:
        logger.info("knowledge base %s: %s", kb.path, kb.describe())
    finally:
        kb.close()


app = create_app()
