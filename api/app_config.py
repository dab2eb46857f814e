"""What the HTTP layer is configured with: small frozen values, made from the settings at the edge.

None of them has defaults: ``service.Settings`` is the one place that says what an unset
setting means. ``capture`` gets its own value (``capture.Limits``, the jobs' limits) and
``pipeline`` its own (``pipeline.LLMSettings``); the handlers read the rest grouped by what
they are for: how streams are written (``Streaming``), what one request may ask
(``RequestLimits``), who may call (``Auth``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import capture
from pipeline import LLMSettings

__all__ = (
    "REASONING_FIELDS",
    "AppConfig",
    "Auth",
    "HeartbeatStyle",
    "JobWorkers",
    "ReasoningField",
    "RequestLimits",
    "Streaming",
)

# Where the OpenAI route puts what a job prints: the delta field DeepSeek and vLLM use,
# the one OpenRouter and Ollama use, or "<think>…</think>" at the start of ``content``.
ReasoningField = Literal["reasoning_content", "reasoning", "think"]
REASONING_FIELDS: tuple[ReasoningField, ...] = get_args(ReasoningField)

# Who runs jobs: each web process its own, or worker processes fed through Redis.
JobWorkers = Literal["local", "remote"]

# The OpenAI route's heartbeat: an empty-delta chunk, or an SSE comment.
HeartbeatStyle = Literal["chunk", "comment"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Streaming:
    """How event streams are written and ended."""

    heartbeat_interval: float  # seconds between heartbeats; 0 turns them off
    heartbeat_style: HeartbeatStyle
    reasoning_field: ReasoningField  # a request's own ``reasoning_field`` overrides it
    sse_retry_ms: int  # the reconnect delay sent to EventSource clients
    send_timeout: float  # seconds a client may stop reading before it is cut; 0: never
    shutdown_grace_period: float  # seconds open streams get to say goodbye


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestLimits:
    """What one request may ask (``capture.Limits`` bounds the jobs it starts)."""

    max_body_bytes: int
    max_input_chars: int
    max_messages: int
    body_timeout: float  # seconds a request body may take to arrive whole; 0: no limit
    # Enforced under the app, by the server's protocol (``api.http_guard``), when it is the guarded one.
    header_timeout: float  # seconds a request line and headers may take; 0: no limit
    max_header_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth:
    """Who may call: API keys, the stream tokens that stand in for them, the allowed origins."""

    # Secrets stay out of repr(): a value in a log line or a traceback must not show them.
    api_keys: tuple[str, ...] = field(repr=False)  # empty: no authentication
    stream_token_ttl: float
    stream_token_secret: bytes = field(repr=False)  # empty: random per process
    cors_origins: tuple[str, ...]
    metrics_token: bytes = field(repr=False)  # empty: /metrics is open to anyone who can reach it


@dataclass(frozen=True, slots=True, kw_only=True)
class AppConfig:
    """Everything one app is configured with."""

    streaming: Streaming
    requests: RequestLimits
    auth: Auth
    job_limits: capture.Limits  # admission, queues, logs, run time
    echo_job_output: bool
    knowledge_base: Path | None  # None: the project's data/knowledge.sqlite3
    llm: LLMSettings | None = field(repr=False)  # holds LLM_API_KEY
    redis_url: str = field(repr=False)  # empty: jobs live in this process's memory; may hold a password
    job_workers: JobWorkers  # remote: web processes enqueue jobs, worker processes run them (needs redis_url)
