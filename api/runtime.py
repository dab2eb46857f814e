"""The state of one running app: its job registry, metrics, tokens, open streams, shutdown.

Handlers reach it with ``runtime(request)``; it is made once per app by ``create_app``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager

import anyio
from prometheus_client import CollectorRegistry, Gauge
from sse_starlette import ServerSentEvent
from starlette.requests import Request

import capture
from pipeline import open_default

from .app_config import AppConfig
from .auth import StreamTokens, request_key
from .catalogue import JobFactory, Model, build_models
from .errors import overloaded, shutting_down, store_unavailable
from .observability import Metrics, logfmt
from .sse import EventStream, SendWatchdog
from .startup import unless_stopped

__all__ = ("Runtime", "runtime")

logger = logging.getLogger("service")

# Shorter API keys are accepted (they can only be guessed online, one request at a time) but said to be weak.
_STRONG_KEY_CHARS = 16


class StreamState:
    """One open event stream, for the metrics: did it reach its job's end?"""

    __slots__ = ("ended",)

    def __init__(self) -> None:
        self.ended = False


class Runtime:
    """Everything the handlers share, bound to one ``AppConfig``."""

    def __init__(self, config: AppConfig, registry: capture.JobRegistry | None = None) -> None:
        self.config = config
        self.models: dict[str, Model] = build_models(config.knowledge_base, config.llm)
        self.registry: capture.JobRegistry = registry or capture.open_registry(
            config.redis_url, config.job_limits, echo=config.echo_job_output, on_finish=self.job_finished,
            remote_workers=config.job_workers == "remote",
        )
        # With Redis, several processes serve the service: each one's series carry its name.
        process = f"{socket.gethostname()}:{os.getpid()}" if config.redis_url else None
        self.metrics = Metrics(jobs_running=self.registry.running, jobs_waiting=self.registry.waiting, process=process)
        # Jobs that ended but whose thread ignores cancellation: they keep their place until it returns.
        Gauge(
            "course_stream_jobs_stuck",
            "Jobs that ended but whose thread still runs (they count as running)",
            registry=self.metrics.registry,
        ).set_function(lambda: float(self.registry.stuck()))
        if isinstance(self.registry, capture.RemoteJobRegistry):
            _worker_gauges(self.registry, self.metrics.registry)
        auth = config.auth
        self.tokens = StreamTokens(auth.stream_token_secret or secrets.token_bytes(32), auth.stream_token_ttl)
        self.shutting_down = False
        self.send_watchdog = SendWatchdog()
        # Set (by sse-starlette, on every open stream) when the server is told to stop.
        self.shutdown_event: anyio.Event | None = None
        self._shutdown_watcher: asyncio.Task[None] | None = None

    # -- jobs ------------------------------------------------------------------------------

    async def start_job(self, request: Request, model: Model, job: JobFactory, *, resumable: bool) -> capture.JobInfo:
        """Start a job for ``request``; one that is not resumable runs while its one reader reads."""
        if self.shutting_down:
            self.metrics.errors.labels("shutting_down").inc()
            raise shutting_down()
        request_id = str(getattr(request.state, "request_id", ""))
        tags = {"request_id": request_id} if request_id else {}
        key = request_key(request)
        if key is not None:
            tags["key"] = key  # the job belongs to this key: another sees 404 (see auth.owns)
        try:
            info = await self.registry.start(job, model.id, resumable=resumable, tags=tags or None)
        except capture.Overloaded as busy:
            self.metrics.errors.labels("overloaded").inc()
            raise overloaded(busy.running, busy.waiting) from None
        except capture.StoreUnavailable:
            self.metrics.errors.labels("store_unavailable").inc()
            raise store_unavailable() from None
        request.state.job_id = info.id
        return info

    def job_finished(self, job: capture.JobInfo) -> None:
        """One log line per job, and its duration by outcome."""
        reason = job.reason or "cancelled"
        outcome: str = job.status
        if isinstance(job.terminal, capture.Complete) and job.terminal.results.get("known") is False:
            outcome = "declined"  # an honest "I know nothing about that", not a course
        self.metrics.job_duration.labels(job.model, outcome).observe(job.elapsed)
        if isinstance(job.terminal, capture.Error):
            self.metrics.errors.labels(job.terminal.kind).inc()
        line = logfmt(
            event="job",
            job=job.id,
            model=job.model,
            outcome=outcome,
            reason=reason,
            duration_ms=job.elapsed * 1000,
            events=job.last_seq,
            request_id=job.tags.get("request_id"),
            error=job.terminal.message if reason == "job_error" and isinstance(job.terminal, capture.Error) else None,
        )
        logger.log(logging.WARNING if job.status == "failed" else logging.INFO, line)

    # -- streams ---------------------------------------------------------------------------

    def event_stream(
        self, content: AsyncIterator[bytes], route: str, ping: Callable[[], ServerSentEvent]
    ) -> EventStream:
        """An event stream with heartbeats, a cooperative shutdown, and metrics."""

        def heartbeat() -> ServerSentEvent:
            self.metrics.heartbeats_sent.labels(route).inc()
            return ping()

        return EventStream(
            content,
            metrics=self.metrics,
            watchdog=self.send_watchdog,
            ping=self.config.streaming.heartbeat_interval,
            ping_message_factory=heartbeat,
            sep="\n",
            send_timeout=self.config.streaming.send_timeout or None,
            shutdown_event=self.shutdown_event,
            shutdown_grace_period=self.config.streaming.shutdown_grace_period,
        )

    @contextmanager
    def tracked(self, route: str) -> Iterator[StreamState]:
        """Count a stream while it is open; one that closes before its job's end lost its client."""
        self.metrics.active_streams.labels(route).inc()
        state = StreamState()
        try:
            yield state
        finally:
            self.metrics.active_streams.labels(route).dec()
            if not state.ended and not self.shutting_down:
                self.metrics.client_disconnects.labels(route).inc()

    # -- the app's life ----------------------------------------------------------------------

    async def startup(self) -> None:
        capture.install()
        await self.registry.open()  # raises capture.StoreUnavailable: the app does not start
        for number, key in enumerate(self.config.auth.api_keys, 1):
            if len(key) < _STRONG_KEY_CHARS:
                logger.warning("API_KEYS: key %d is shorter than %d characters: easy to guess",
                               number, _STRONG_KEY_CHARS)
        chosen = self.config.knowledge_base
        if chosen is not None and not chosen.exists():
            # Legitimate (a new knowledge base), but also what a mistyped path looks like.
            logger.warning("KNOWLEDGE_BASE: %s does not exist: a new knowledge base is made there and the Python "
                           "manual indexed into it (check the path if you meant an existing one)", chosen)
        # Index the knowledge base before taking requests, so the first course does not
        # pay for it. A failure here is logged, not fatal: jobs will report it clearly (the
        # settings already refused a file that is not a knowledge base).
        try:
            if not await unless_stopped(lambda: _prepare_knowledge_base(self.config)):
                logger.info("stopped before the knowledge base was indexed: it is indexed on the next start")
        except Exception:
            logger.exception("the knowledge base could not be prepared; courses will fail until it is fixed")
        _tune_garbage_collector()
        # One event for every open stream: sse-starlette sets it when the server is told to
        # stop, lets each stream finish within SHUTDOWN_GRACE_PERIOD, then cuts what is left.
        self.shutdown_event = anyio.Event()
        self._shutdown_watcher = asyncio.get_running_loop().create_task(
            self._on_shutdown_signal(), name="shutdown-watcher"
        )

    async def _on_shutdown_signal(self) -> None:
        assert self.shutdown_event is not None
        await self.shutdown_event.wait()
        self.begin_shutdown()

    def begin_shutdown(self) -> None:
        """The server was told to stop: end every job, so every stream says why and ends cleanly."""
        if self.shutting_down:
            return
        self.shutting_down = True
        running, waiting = self.registry.running(), self.registry.waiting()
        logger.info(logfmt(event="shutdown", jobs_running=running, jobs_waiting=waiting))
        # Admit nobody from now on: a place freed by a stopping job must not start a waiting one.
        self.registry.stop_admitting()
        self.registry.cancel_all("shutdown")

    async def aclose(self) -> None:
        if self._shutdown_watcher is not None:
            self._shutdown_watcher.cancel()
        self.send_watchdog.close()
        self.shutting_down = True
        await self.registry.aclose()


# The worker tier's figures, read from Redis every second: global, the same on every web
# process (take any one; do not sum them over processes).
_WORKER_FIGURES = (
    ("queue_depth", "course_stream_workers_queue_depth", "Jobs enqueued that no worker has read yet"),
    ("pending", "course_stream_workers_queue_pending",
     "Jobs a worker has read and not finished (running, about to start, or of a lost worker)"),
    ("lost", "course_stream_workers_jobs_lost", "Jobs ended as worker_lost because their worker was lost"),
    ("retried", "course_stream_workers_jobs_retried", "Jobs run again from their start after their worker was lost"),
)


def _worker_gauges(remote: capture.RemoteJobRegistry, registry: CollectorRegistry) -> None:
    """``jobs_running`` and ``jobs_queued`` are global here too (on all workers); these add the queue's figures."""
    for key, name, doc in _WORKER_FIGURES:
        counted = "" if key in ("queue_depth", "pending") else " (all workers, since Redis started)"
        Gauge(name, doc + counted, registry=registry).set_function(
            lambda key=key: float(remote.queue_stats()[key]))  # type: ignore[misc]


def runtime(request: Request) -> Runtime:
    """The runtime of the app serving ``request``."""
    state: Runtime = request.app.state.runtime
    return state


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


def _prepare_knowledge_base(config: AppConfig) -> None:
    kb = open_default(config.knowledge_base, progress=lambda line: logger.info("%s", line))
    try:
        logger.info("knowledge base %s: %s", kb.path, kb.describe())
    finally:
        kb.close()
