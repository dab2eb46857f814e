"""The entry point, ``service:app``: ``Settings``, the route table, ``create_app``.

Everything a setting controls is an environment variable of the same name in
upper case (see ``Settings``, the one place that says what an unset one means);
the HTTP face lives in ``api``, the streaming core in ``capture``, the jobs in
``pipeline``.

``create_app(settings)`` has no side effects until the app starts (its lifespan):
nothing is captured, indexed or connected, so a test builds one per case and sends
it requests in-process. ``import service`` reads nothing either: ``service:app`` is
made from the environment when it is first read (uvicorn reads it once per process),
and a bad setting then stops the process with one line that names it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import capture
from api import Application, Runtime, chat, events, exception_handlers, http_guard, info, jobs, middleware
from api.app_config import AppConfig, Auth, HeartbeatStyle, JobWorkers, ReasoningField, RequestLimits, Streaming
from api.catalogue import build_models, load_jobs
from api.responses import cancel_response, create_response, retrieve_response
from api.setting_checks import (
    check_api_keys,
    check_cors_origins,
    check_llm_base_url,
    check_metrics_token,
    check_redis_url,
    check_signing_secret,
    parse_list,
    redact_url,
)
from api.ui_stream import resume_ui_chat, ui_chat
from pipeline import LLMSettings
from pipeline.knowledge import default_path
from pipeline.knowledge_file import check_knowledge_base

__all__ = ("Settings", "app", "create_app", "load_settings")

# Settings whose values never appear in a message: they are, or may hold, credentials.
_SECRET_SETTINGS = frozenset(
    {"API_KEYS", "METRICS_TOKEN", "STREAM_TOKEN_SECRET", "LLM_API_KEY", "LLM_BASE_URL", "REDIS_URL"}
)
_OWN_LOGGERS = ("service", "api", "capture", "pipeline")  # logged at INFO (the rest at WARNING)
_LIMITS = capture.Limits()  # the streaming core's own defaults, written once, there


def _when_set(check: Callable[[str], None]) -> AfterValidator:
    """``check`` as a field's validator; an empty value means "not set" and is not checked."""

    def validate(value: str) -> str:
        if value:
            check(value)  # raises ValueError in words that become the one line naming the setting
        return value

    return AfterValidator(validate)


class Settings(BaseSettings):
    """Every setting is an environment variable of the same name in upper case."""

    # No number setting means "inf" or "nan": they overflow (a token that expires at inf) or
    # slip past every bound (nan >= 0 is false, but so is nan < 0).
    # An empty variable (HEARTBEAT_INTERVAL=) means "not set", for every setting alike.
    model_config = SettingsConfigDict(env_file=None, extra="ignore", allow_inf_nan=False, env_ignore_empty=True)

    heartbeat_interval: float = Field(10.0, ge=0, description="seconds between heartbeats; 0 turns them off")
    heartbeat_style: HeartbeatStyle = Field(
        "chunk", description="OpenAI route: an empty-delta chunk, or an SSE comment"
    )
    reasoning_field: ReasoningField = Field(
        "reasoning_content",
        description="OpenAI route: printed lines as delta.reasoning_content, delta.reasoning, "
        "or think (<think>…</think> at the start of content)",
    )
    job_queue_size: int = Field(_LIMITS.queue_size, ge=1, description="events a job may get ahead of its client")
    knowledge_base: Path | None = Field(
        None, validate_default=True, description="knowledge-base file (default data/knowledge.sqlite3)"
    )
    echo_job_output: bool = Field(False, description="copy job output to the server console, prefixed per job")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="largest accepted request body")
    body_timeout: float = Field(
        30.0, ge=0, description="seconds a request body may take to arrive whole; beyond: 408 (0: no limit)"
    )
    # These two are kept by the server's protocol (``--http api.http_guard:GuardedHttpToolsProtocol``).
    header_timeout: float = Field(
        10.0, ge=0, description="seconds a request line and its headers may take; beyond: 408 (0: no limit)"
    )
    max_header_bytes: int = Field(65536, ge=1024, description="largest request line and headers; beyond: 431")
    max_input_chars: int = Field(4000, ge=1, description="longest subject or last user message")
    max_messages: int = Field(256, ge=1, description="most messages in one chat request")
    job_grace_period: float = Field(
        _LIMITS.grace_period, ge=0, description="seconds a job waits for its reader to reconnect"
    )
    job_retention: float = Field(_LIMITS.retention, ge=0, description="seconds a finished job can still be read")
    job_log_events: int = Field(_LIMITS.log_events, ge=10, description="events kept per job for resuming")
    job_log_chars: int = Field(_LIMITS.log_chars, ge=1024, description="characters kept per job for resuming")
    max_finished_jobs: int = Field(_LIMITS.max_finished, ge=0, description="finished jobs kept at most")
    sse_retry_ms: int = Field(1000, ge=0, description="the reconnect delay sent to EventSource clients")
    shutdown_grace_period: float = Field(
        5.0, ge=0, description="seconds open streams get to say goodbye when the server stops"
    )
    max_concurrent_jobs: int = Field(_LIMITS.max_running, ge=1, description="jobs running at once")
    max_queued_jobs: int = Field(
        _LIMITS.max_waiting, ge=0, description="jobs waiting for a free worker; beyond: 429"
    )
    # The service stops runaway jobs; the streaming core alone, as a library, sets no limit.
    job_timeout: float = Field(600.0, ge=0, description="seconds a job may run before it is stopped (0: no limit)")
    max_event_chars: int = Field(
        _LIMITS.max_event_chars, ge=256, description="printed characters in one progress event"
    )
    send_timeout: float = Field(
        30.0, ge=0, description="seconds a client may stop reading before its stream is closed (0: never)"
    )
    api_keys: Annotated[str, _when_set(check_api_keys)] = Field(
        "", description="comma-separated API keys (printable ASCII, no spaces); empty: no authentication"
    )
    metrics_token: Annotated[str, _when_set(check_metrics_token)] = Field(
        "", description="token /metrics requires as 'Authorization: Bearer <token>' (empty: /metrics is open)"
    )
    stream_token_ttl: float = Field(600.0, gt=0, description="seconds a stream token stays valid")
    stream_token_secret: Annotated[str, _when_set(check_signing_secret)] = Field(
        "", description="secret that signs stream tokens, 32 characters or more (empty: random per process)"
    )
    cors_origins: Annotated[str, _when_set(check_cors_origins)] = Field(
        "", description="comma-separated origins (scheme://host[:port]) allowed to call the API from a browser"
    )
    llm_base_url: Annotated[str, _when_set(check_llm_base_url)] = Field(
        "", description="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1"
    )
    llm_model: str = Field("", description="the model to ask there")
    llm_api_key: str = Field("", description="its API key, if it needs one")
    llm_timeout: float = Field(60.0, gt=0, description="seconds to connect, and between two pieces of its answer")
    llm_max_retries: int = Field(2, ge=0, description="retries for failures before any token arrived")
    llm_fallback: bool = Field(False, description="on an upstream failure, use the embedded generator instead")
    redis_url: Annotated[str, _when_set(check_redis_url)] = Field(
        "",
        description="redis://host:port/db, rediss://… or unix://path: jobs shared by every process using it "
        "(empty: this process only)",
    )
    jobs: str = Field("", description="jobs of your own as models: comma-separated name=module:callable")
    capture_stderr: bool = Field(True, description="send what jobs write to sys.stderr to their streams")
    job_workers: JobWorkers = Field(
        "local",
        description="local: each web process runs its jobs; remote (needs REDIS_URL): web processes enqueue "
        "jobs and `make worker` processes run them",
    )
    worker_threads: int = Field(4, ge=1, description="worker process: jobs it runs at once")
    job_retry: int = Field(
        0, ge=0, le=10, description="remote workers: times a job whose worker was lost runs again from the start"
    )
    worker_drain_timeout: float = Field(
        600.0, ge=0, description="worker process, on SIGTERM: seconds its running jobs get to finish"
    )

    @field_validator("jobs")
    @classmethod
    def _jobs_import(cls, value: str) -> str:
        load_jobs(value, taken=build_models(None, None))  # every entry imports, or startup stops naming it
        return value

    @model_validator(mode="after")
    def _llm_needs_a_model(self) -> Settings:
        if self.llm_base_url and not self.llm_model:
            raise ValueError("LLM_BASE_URL is set, so LLM_MODEL must say which model to use")
        return self

    @model_validator(mode="after")
    def _remote_workers_need_redis(self) -> Settings:
        if self.job_workers == "remote" and not self.redis_url:
            raise ValueError("JOB_WORKERS=remote needs REDIS_URL: the job queue lives in Redis")
        return self

    @model_validator(mode="after")
    def _shared_tokens_need_a_shared_secret(self) -> Settings:
        # A stream token issued by one process must open a stream on any other.
        if self.redis_url and self.api_keys and not self.stream_token_secret:
            raise ValueError(
                "with REDIS_URL and API_KEYS set, STREAM_TOKEN_SECRET must be set (the same on every process)"
            )
        return self

    @field_validator("knowledge_base", mode="before")
    @classmethod
    def _empty_knowledge_base_is_the_default(cls, value: object) -> object:
        # As for every other setting, KNOWLEDGE_BASE= means "not set" (not the directory ".").
        return None if value == "" else value

    @field_validator("knowledge_base")
    @classmethod
    def _usable_knowledge_base(cls, value: Path | None) -> Path | None:
        # A file that is not a knowledge base would otherwise fail every course while /healthz says ok.
        if value is not None:
            value = value.expanduser()
            check_knowledge_base(value)
        elif default_path().parent.is_dir():  # the default's directory, data/, is created when missing
            check_knowledge_base(default_path())
        return value

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

    def config(self) -> AppConfig:
        """The settings as the values the HTTP layer is configured with."""
        return AppConfig(
            streaming=Streaming(
                heartbeat_interval=self.heartbeat_interval,
                heartbeat_style=self.heartbeat_style,
                reasoning_field=self.reasoning_field,
                sse_retry_ms=self.sse_retry_ms,
                send_timeout=self.send_timeout,
                shutdown_grace_period=self.shutdown_grace_period,
            ),
            requests=RequestLimits(
                max_body_bytes=self.max_body_bytes,
                max_input_chars=self.max_input_chars,
                max_messages=self.max_messages,
                body_timeout=self.body_timeout,
                header_timeout=self.header_timeout,
                max_header_bytes=self.max_header_bytes,
            ),
            auth=Auth(
                api_keys=parse_list(self.api_keys),
                stream_token_ttl=self.stream_token_ttl,
                stream_token_secret=self.stream_token_secret.encode(),
                cors_origins=parse_list(self.cors_origins),
                metrics_token=self.metrics_token.encode(),
            ),
            job_limits=capture.Limits(
                queue_size=self.job_queue_size,
                max_event_chars=self.max_event_chars,
                grace_period=self.job_grace_period,
                retention=self.job_retention,
                log_events=self.job_log_events,
                log_chars=self.job_log_chars,
                max_finished=self.max_finished_jobs,
                max_running=self.max_concurrent_jobs,
                max_waiting=self.max_queued_jobs,
                max_run_time=self.job_timeout,
                retries=self.job_retry,
            ),
            echo_job_output=self.echo_job_output,
            knowledge_base=self.knowledge_base,
            llm=self.llm(),
            redis_url=self.redis_url,
            job_workers=self.job_workers,
        )


def create_app(settings: Settings) -> Starlette:
    """The service configured by ``settings``; nothing runs until the app starts."""
    rt = Runtime(settings.config())
    rt.models.update(load_jobs(settings.jobs, taken=rt.models))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not logging.getLogger().handlers:
            # The root logger at WARNING, as in any Python program: a library's INFO lines (httpx
            # logs every request it makes) stay out of the console and out of jobs' streams.
            # The server's own loggers say what it does at INFO.
            logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            for name in _OWN_LOGGERS:
                if logging.getLogger(name).level == logging.NOTSET:
                    logging.getLogger(name).setLevel(logging.INFO)
        # The pipeline's own log (which upstream failed, and where) is the operator's, not the client's.
        capture.install(stderr=settings.capture_stderr, server_loggers=("pipeline",))
        # uvicorn makes its protocol objects itself: the guarded protocol's limits can only be set on
        # its class, here, before the server accepts a connection (without that protocol: no effect).
        http_guard.configure(rt.config.requests.header_timeout, rt.config.requests.max_header_bytes)
        await rt.startup()
        try:
            yield
        finally:
            await rt.aclose()

    app = Application(
        routes=[
            Route("/", info.page, methods=["GET"]),
            Mount("/static", StaticFiles(directory=info.WEB), name="static"),
            Route("/healthz", info.healthz, methods=["GET"]),
            Route("/metrics", info.metrics, methods=["GET"]),
            Route("/v1/knowledge-base", info.knowledge_base, methods=["GET"]),
            Route("/v1/models", info.list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", info.retrieve_model, methods=["GET"]),
            Route("/v1/chat/completions", chat.chat_completions, methods=["POST"]),
            Route("/v1/courses/stream", events.course_stream, methods=["GET"]),
            Route("/v1/jobs", jobs.create_job, methods=["POST"]),
            Route("/v1/stream-tokens", info.stream_token, methods=["POST"]),
            Route("/v1/jobs/{job_id}", jobs.get_job, methods=["GET"]),
            Route("/v1/jobs/{job_id}", jobs.delete_job, methods=["DELETE"]),
            Route("/v1/jobs/{job_id}/events", events.job_events, methods=["GET"]),
            Route("/v1/responses", create_response, methods=["POST"]),
            Route("/v1/responses/{response_id}", retrieve_response, methods=["GET"]),
            Route("/v1/responses/{response_id}/cancel", cancel_response, methods=["POST"]),
            Route("/api/chat", ui_chat, methods=["POST"]),
            Route("/api/chat/{chat_id}/stream", resume_ui_chat, methods=["GET"]),
        ],
        exception_handlers=exception_handlers(),
        middleware=middleware(rt),
        lifespan=lifespan,
    )
    app.state.runtime = rt
    return app


def _settings_error(exc: ValidationError) -> str:
    """A bad setting, in one line that names it (as the environment variable an operator sets)."""
    problems = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
        # pydantic prefixes a validator's own words with "Value error, ": the words are enough.
        problem = f"{name}: {error['msg'].removeprefix('Value error, ')}"
        if error["type"] != "value_error" and name not in _SECRET_SETTINGS and isinstance(error["input"], str):
            problem += f" (got {error['input'][:60]!r})"  # pydantic's own words do not show the value
        problems.append(problem)
    return "course-stream: bad setting: " + "; ".join(problems)


def _check_redis(url: str) -> None:
    """Refuse to start, in one line, when ``REDIS_URL`` is set but Redis does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise SystemExit(f"course-stream: REDIS_URL={redact_url(url)!r}: Redis does not answer ({exc})") from None
    finally:
        client.close()


def load_settings() -> Settings:
    """The settings from the environment; a bad one stops the process with one line naming it (exit code 2)."""
    try:
        return Settings()
    except ValidationError as invalid:
        # A traceback would bury the one thing an operator needs: which variable is wrong.
        print(_settings_error(invalid), file=sys.stderr)
        raise SystemExit(2) from None


def _app_from_environment() -> Starlette:
    settings = load_settings()
    if settings.redis_url:
        _check_redis(settings.redis_url)
    return create_app(settings)


app: Starlette  # made when first read (below), not on import


def __getattr__(name: str) -> Starlette:
    # ``uvicorn service:app`` (and each of its --workers) reads ``app`` once: it is made then, from the
    # environment. Importing this module alone reads nothing and starts nothing.
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    made = _app_from_environment()
    globals()["app"] = made
    return made
