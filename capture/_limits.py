"""Every limit of the streaming core, and its default, in one place.

The HTTP layer turns its settings into one ``Limits`` value and hands it down;
nothing else in the project writes these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("Limits",)


@dataclass(frozen=True, slots=True)
class Limits:
    queue_size: int = 256  # events a job may get ahead of its reader before its prints block
    max_event_chars: int = 64 * 1024  # printed characters in one event: a longer print is split
    grace_period: float = 30.0  # seconds a running job waits for a reader to come back
    retention: float = 300.0  # seconds a finished job stays readable
    log_events: int = 10_000  # events a job's log keeps for resuming
    log_chars: int = 1 << 20  # characters a job's log keeps for resuming
    max_finished: int = 256  # finished jobs kept at most
    max_running: int = 64  # jobs running at once
    max_waiting: int = 256  # jobs waiting for a place to run; beyond, starting one raises Overloaded
    max_run_time: float = 0.0  # seconds a job may run before it is stopped (0: no limit)
    retries: int = 0  # with remote workers: times a job whose worker was lost runs again from the start

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.max_event_chars < 1 or self.max_running < 1 or self.max_waiting < 0:
            raise ValueError("queue_size, max_event_chars and max_running must be at least 1, max_waiting 0")
