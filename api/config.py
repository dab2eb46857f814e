"""What the HTTP layer is configured with: one frozen value, made from the settings at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import capture
from pipeline import LLMSettings

__all__ = ("REASONING_FIELDS", "Config", "ReasoningField")

# Where the OpenAI route puts what a job prints: the delta field DeepSeek and vLLM use,
# the one OpenRouter and Ollama use, or "<think>…</think>" at the start of ``content``.
ReasoningField = Literal["reasoning_content", "reasoning", "think"]
REASONING_FIELDS: tuple[ReasoningField, ...] = get_args(ReasoningField)


@dataclass(frozen=True, slots=True)
class Config:
    limits: capture.Limits = field(default_factory=capture.Limits)
    heartbeat_interval: float = 10.0  # seconds between heartbeats; 0 turns them off
    heartbeat_style: Literal["chunk", "comment"] = "chunk"  # OpenAI route: an empty-delta chunk, or a comment
    reasoning_field: ReasoningField = "reasoning_content"  # OpenAI route: where printed lines go
    echo_job_output: bool = False
    max_body_bytes: int = 1 << 20
    max_input_chars: int = 4000
    max_messages: int = 256
    sse_retry_ms: int = 1000
    shutdown_grace_period: float = 5.0
    send_timeout: float = 30.0  # 0: never
    # Secrets stay out of repr(): a Config in a log line or a traceback must not show them.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    stream_token_ttl: float = 600.0
    stream_token_secret: bytes = field(default=b"", repr=False)  # empty: random per process
    cors_origins: tuple[str, ...] = ()
    knowledge_base: Path | None = None
    llm: LLMSettings | None = field(default=None, repr=False)  # holds LLM_API_KEY
    redis_url: str = field(default="", repr=False)  # empty: jobs live in this process's memory; may hold a password
