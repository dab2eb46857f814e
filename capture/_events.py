"""The typed events a job stream produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ("Complete", "Content", "Error", "Event", "Progress")


@dataclass(frozen=True, slots=True)
class Progress:
    """Text the job printed (one or more complete lines, or a flushed partial line)."""

    text: str


@dataclass(frozen=True, slots=True)
class Content:
    """A piece of the job's final answer, sent as soon as it exists."""

    text: str


@dataclass(frozen=True, slots=True)
class Complete:
    """The job finished; ``results`` is what it reported. Always the last event."""

    results: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Error:
    """The job failed. ``message`` is short and safe to show a client; always the last event."""

    message: str
    kind: str = "job_error"


Event = Progress | Content | Complete | Error
