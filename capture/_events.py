"""Every value of the streaming core: the events a job produces, and what a registry answers with.

Everything here is plain data, so that a registry kept in another process (or in
Redis) can hand out exactly what the in-memory one does, and so that every module
of the path (bridge, job, registry, the HTTP routes) speaks of the same values.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = (
    "Complete",
    "Content",
    "Entry",
    "Error",
    "Event",
    "Gap",
    "JobInfo",
    "JobStatus",
    "Progress",
    "ProgressUpdate",
    "Restarted",
    "Terminal",
    "error_message",
    "status_of",
)

MAX_ERROR_MESSAGE = 200


@dataclass(frozen=True, slots=True)
class Progress:
    """Text the job printed (one or more complete lines, or a flushed partial line)."""

    text: str


@dataclass(frozen=True, slots=True)
class ProgressUpdate(Progress):
    """A new state of the updating line last sent (a progress bar redrawn with ``\\r``): it replaces that line.

    A ``Progress`` too, so a client that does not know updates shows it as one more line.
    """


@dataclass(frozen=True, slots=True)
class Restarted(Progress):
    """The worker running the job was lost and the job starts again from the beginning on another one.

    What it printed before this event is superseded (the answer starts afresh); the events
    after it are new ones, never a replay. A ``Progress`` too, so a client that does not know
    it shows it as one more line.
    """


@dataclass(frozen=True, slots=True)
class Content:
    """A piece of the job's final answer, sent as soon as it exists."""

    text: str


@dataclass(frozen=True, slots=True)
class Complete:
    """The job finished; ``results`` is what it reported. Always the last event."""

    results: dict[str, Any] = field(default_factory=dict)


EndReason = Literal[
    "job_error", "timeout", "overloaded", "cancelled", "abandoned", "shutdown", "worker_lost", "store_unavailable"
]
"""Why a job ended without completing, carried by its terminal ``Error`` as ``kind``:

- ``job_error``: the job raised (or reported an error);
- ``timeout``: it ran longer than its limit;
- ``overloaded``: it could not be started (no thread to be had);
- ``cancelled``: somebody stopped it (``DELETE``);
- ``abandoned``: its readers left and none came back within the grace period;
- ``shutdown``: the server is stopping;
- ``worker_lost``: the process running it died (shared registries only);
- ``store_unavailable``: the shared store (Redis) could not be reached.
"""

_CANCELLED_KINDS = frozenset({"cancelled", "abandoned", "shutdown"})


@dataclass(frozen=True, slots=True)
class Error:
    """The job ended without completing. ``message`` is short and safe to show a client;
    ``kind`` says why (see ``EndReason``). Always the last event."""

    message: str
    kind: str = "job_error"


def error_message(exc: BaseException) -> str:
    """The one line a client may see of an exception: its type and first line, never a traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(message) > MAX_ERROR_MESSAGE:
        message = message[: MAX_ERROR_MESSAGE - 1] + "…"
    return message


Event = Progress | Content | Complete | Error
Terminal = Complete | Error


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of a job's log, with its sequence number (1, 2, 3 …)."""

    seq: int
    event: Event


@dataclass(frozen=True, slots=True)
class Gap:
    """Events ``first``..``last`` are no longer kept: a reader came back too late for them."""

    first: int
    last: int


JobStatus = Literal["queued", "running", "complete", "failed", "cancelled"]


def status_of(terminal: Terminal) -> JobStatus:
    """The status a job has once it ended with ``terminal``."""
    if isinstance(terminal, Complete):
        return "complete"
    return "cancelled" if terminal.kind in _CANCELLED_KINDS else "failed"


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A snapshot of one job, as a registry answers ``status``."""

    id: str
    model: str
    status: JobStatus
    created: float  # Unix time
    finished: float | None
    last_seq: int  # the sequence number of its latest event (0: none yet)
    answer: str  # every Content text so far, in order
    terminal: Terminal | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        """How it ended: ``complete``, or the terminal error's kind; None while it runs."""
        if self.terminal is None:
            return None
        return "complete" if isinstance(self.terminal, Complete) else self.terminal.kind

    @property
    def elapsed(self) -> float:
        """Seconds from its creation to its end (or to now, while it runs)."""
        return (self.finished if self.finished is not None else time.time()) - self.created
