"""What operators see: Prometheus metrics, and one structured log line per request and per job.

Log lines are ``key=value`` pairs (logfmt), so they are easy to read and to parse.
Every request gets an id (``X-Request-ID`` from the proxy, when it sends a sane
one, else a new one), returned in the response's ``X-Request-ID`` header and
written in its access line; the job it started is named in the same line, and
the job's own line and console echo carry the job id.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ("AccessLogMiddleware", "Metrics", "logfmt")

access_logger = logging.getLogger("service.access")

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BARE = re.compile(r"[^\s\"=\x00-\x1f\x7f-\x9f]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def logfmt(**fields: Any) -> str:
    """``key=value`` pairs; values with spaces or quotes are quoted."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        text = f"{value:.1f}" if isinstance(value, float) else str(value)
        if not _BARE.fullmatch(text):
            # Quoted, and never a raw line break: a client's path must not start a log line of its own.
            text = '"' + _CONTROL.sub(_escape_control, text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class _ProcessLabelled:
    """A registry's metrics, every sample labelled with the process that serves them."""

    def __init__(self, registry: CollectorRegistry, process: str) -> None:
        self._registry = registry
        self._process = process

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            labelled = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            labelled.samples = [sample._replace(labels={**sample.labels, "process": self._process})
                                for sample in metric.samples]
            yield labelled


class Metrics:
    """The service's metrics, in a registry of its own (one per app).

    ``process`` (with ``REDIS_URL``, where several processes serve one service): a label
    on every series, so that the figures of processes behind one port (``--workers``) or
    one nginx stay apart; each process reports its own, never a sum over the host.
    """

    def __init__(
        self, jobs_running: Callable[[], float], jobs_waiting: Callable[[], float], process: str | None = None
    ) -> None:
        self.process = process
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_streams = Gauge(
            "course_stream_active_streams", "Event streams open now", ["route"], registry=r
        )
        self.jobs_running = Gauge("course_stream_jobs_running", "Jobs running now", registry=r)
        self.jobs_running.set_function(jobs_running)
        self.jobs_queued = Gauge("course_stream_jobs_queued", "Jobs waiting for a free worker", registry=r)
        self.jobs_queued.set_function(jobs_waiting)
        self.events_sent = Counter(
            "course_stream_events_sent", "Events sent to clients", ["route", "kind"], registry=r
        )
        self.bytes_sent = Counter("course_stream_event_bytes_sent", "Bytes of events sent", ["route"], registry=r)
        self.heartbeats_sent = Counter(
            "course_stream_heartbeats_sent", "Heartbeats sent to keep idle streams open", ["route"], registry=r
        )
        self.job_duration = Histogram(
            "course_stream_job_duration_seconds",
            "How long jobs ran, by how they ended",
            ["model", "outcome"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
            registry=r,
        )
        self.first_event = Histogram(
            "course_stream_time_to_first_event_seconds",
            "From a stream's request to its first job event",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.errors = Counter("course_stream_errors", "Errors, by kind", ["kind"], registry=r)
        self.client_disconnects = Counter(
            "course_stream_client_disconnects", "Streams whose client left before the end", ["route"], registry=r
        )
        self.requests = Counter(
            "course_stream_http_requests", "HTTP requests, by status code", ["method", "status"], registry=r
        )
        # Labelled children, looked up once: ``sent`` runs for every event.
        self._event_counters: dict[tuple[str, str], tuple[Any, Any]] = {}

    def sent(self, route: str, kind: str, payload: bytes) -> bytes:
        """Count one event on its way out; returns it."""
        counters = self._event_counters.get((route, kind))
        if counters is None:
            counters = self.events_sent.labels(route, kind), self.bytes_sent.labels(route)
            self._event_counters[(route, kind)] = counters
        counters[0].inc()
        counters[1].inc(len(payload))
        return payload

    def render(self) -> tuple[bytes, str]:
        source: Any = self.registry if self.process is None else _ProcessLabelled(self.registry, self.process)
        return generate_latest(source), CONTENT_TYPE_LATEST


class AccessLogMiddleware:
    """One ``key=value`` line per request, written when its response has been sent whole.

    A pure ASGI middleware: it passes every message through as it comes, so event
    streams are not buffered (``BaseHTTPMiddleware`` would buffer them).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        candidate = Headers(scope=scope).get("x-request-id", "")
        request_id = candidate if _SAFE_REQUEST_ID.fullmatch(candidate) else f"req_{secrets.token_hex(8)}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 0
        sent = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            self.metrics.requests.labels(scope["method"], str(status or 500)).inc()
            access_logger.info(
                logfmt(
                    event="request",
                    request_id=request_id,
                    method=scope["method"],
                    path=scope["path"],
                    status=status or "-",
                    bytes=sent,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    job=state.get("job_id"),
                    client=f"{client[0]}:{client[1]}" if client else None,
                )
            )
