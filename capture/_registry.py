"""Jobs as resources: where jobs live, behind one protocol that speaks in values. The fifth hop of a print.

A job started here outlives any one connection: its events go to a bounded,
resumable log, and readers read it from any point, so a client that reconnects
resumes exactly where it left off. When the last reader leaves a running job, it
is stopped after a grace period unless a reader comes back. A finished job is
kept for a while, then dropped.

``JobRegistry`` is what the HTTP layer uses. It answers with values (``JobInfo``
snapshots, ``Entry``/``Gap`` items read from a sequence number), never with the
objects that run jobs, so that a registry kept in a shared store can implement
it too. ``MemoryJobRegistry`` is the embedded implementation: one process.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from ._admission import Admission, Overloaded
from ._events import Entry, Gap, JobInfo
from ._job import Job
from ._limits import Limits

__all__ = ("JobRegistry", "MemoryJobRegistry", "Overloaded", "StoreUnavailable", "UnknownJob")


class UnknownJob(LookupError):
    """No such job here: it never existed, or it finished and was dropped."""


class StoreUnavailable(Exception):
    """The shared store behind a registry cannot be reached: no job can start now."""


class JobRegistry(Protocol):
    """What the HTTP layer needs from wherever jobs live."""

    async def open(self) -> None:
        """Get ready to serve: reach the shared store, if any (raises ``StoreUnavailable``)."""
        ...

    async def start(
        self, job: Callable[[], Any], model: str, *, resumable: bool = True, tags: dict[str, str] | None = None
    ) -> JobInfo:
        """Start ``job()`` (a blocking callable in the job protocol); raises ``Overloaded``.

        A resumable job keeps a log any number of readers read and resume. One that is
        not has exactly one reader, which runs it while it reads: it starts with its
        reader and stops when it leaves.
        """
        ...

    async def status(self, job_id: str) -> JobInfo | None: ...

    def entries(self, job_id: str, after: int = 0) -> AsyncIterator[Entry | Gap]:
        """The job's events after sequence number ``after``, as they come, ending with its
        terminal event; raises ``UnknownJob`` (when iterated) for a job that is not there."""
        ...

    async def cancel(self, job_id: str, reason: str = "cancelled", wait: float = 2.0) -> JobInfo | None:
        """Stop a job and wait up to ``wait`` seconds for its end; its snapshot, or None if unknown."""
        ...

    def running(self) -> int: ...

    def waiting(self) -> int: ...

    def cancel_all(self, reason: str = "shutdown") -> None: ...

    def stop_admitting(self) -> None:
        """Start no waiting job from now on (the server is stopping)."""
        ...

    def stuck(self) -> int:
        """Jobs that ended but whose thread has not returned (they still count as running)."""
        ...

    def health(self) -> dict[str, str]:
        """What ``/healthz`` reports of the registry: ``{"registry": "memory"}``, or the
        shared store's state (a value of ``"unavailable"`` makes the service unhealthy)."""
        ...

    async def aclose(self) -> None: ...


def new_job_id() -> str:
    return f"job_{secrets.token_hex(8)}"


async def _unknown(job_id: str) -> AsyncIterator[Entry | Gap]:
    """An iterator that raises ``UnknownJob`` when iterated, as the protocol says."""
    raise UnknownJob(job_id)
    yield  # an async generator, so that the error comes when it is iterated


class MemoryJobRegistry:
    """Jobs in this process's memory, bounded by ``Limits``."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        echo: bool = False,
        on_finish: Callable[[JobInfo], None] | None = None,
        on_entry: Callable[[Job, Entry], None] | None = None,
        still_wanted: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._on_entry = on_entry
        self._still_wanted = still_wanted
        self.limits = limits or Limits()
        self.admission = Admission(self.limits.max_running, self.limits.max_waiting)
        self._echo = echo
        self._on_finish = on_finish
        self._jobs: dict[str, Job] = {}
        self._finished: OrderedDict[str, asyncio.TimerHandle] = OrderedDict()

    async def open(self) -> None:
        """Nothing to reach: jobs live in this process."""

    def start_job(
        self,
        job: Callable[[], Any],
        model: str,
        *,
        resumable: bool = True,
        tags: dict[str, str] | None = None,
        grace_period: float | None = None,
        job_id: str | None = None,
        first_seq: int = 1,
    ) -> Job:
        """Start ``job()`` and return its in-memory handle (call from the event loop).

        ``job_id`` and ``first_seq`` are a worker's: a job enqueued elsewhere keeps its id, and
        its events follow those already in its stream.
        """
        job_id = job_id or new_job_id()
        if grace_period is None:
            grace_period = self.limits.grace_period if resumable else 0.0
        record = Job(
            job_id,
            model,
            job,
            self.limits,
            self.admission,
            echo=self._echo,
            resumable=resumable,
            grace_period=grace_period,
            tags=dict(tags or {}),
            on_end=self._ended,
            on_entry=self._on_entry,
            still_wanted=self._still_wanted,
            first_seq=first_seq,
        )
        self._jobs[job_id] = record
        return record

    async def start(
        self, job: Callable[[], Any], model: str, *, resumable: bool = True, tags: dict[str, str] | None = None
    ) -> JobInfo:
        return self.start_job(job, model, resumable=resumable, tags=tags).info()

    def get(self, job_id: str) -> Job | None:
        """The in-memory handle of a job (not part of the protocol)."""
        return self._jobs.get(job_id)

    async def status(self, job_id: str) -> JobInfo | None:
        job = self._jobs.get(job_id)
        return job.info() if job is not None else None

    def entries(self, job_id: str, after: int = 0) -> AsyncIterator[Entry | Gap]:
        job = self._jobs.get(job_id)
        if job is None:
            return _unknown(job_id)
        return job.entries(after)  # not wrapped: a generator layer costs every event

    async def cancel(self, job_id: str, reason: str = "cancelled", wait: float = 2.0) -> JobInfo | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        job.cancel(reason)
        await job.wait_ended(wait)
        return job.info()

    def running(self) -> int:
        return self.admission.running

    def waiting(self) -> int:
        return self.admission.waiting

    def health(self) -> dict[str, str]:
        return {"registry": "memory"}

    def stop_admitting(self) -> None:
        self.admission.close()

    def stuck(self) -> int:
        return self.admission.stuck

    def cancel_all(self, reason: str = "shutdown") -> None:
        """Stop every job; their readers get the terminal event saying why."""
        for job in list(self._jobs.values()):
            job.cancel(reason)

    def _ended(self, job: Job) -> None:
        if self._on_finish is not None:
            self._on_finish(job.info())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # ended while the loop itself is being torn down
            self._jobs.pop(job.id, None)
            return
        self._finished[job.id] = loop.call_later(self.limits.retention, self._drop, job.id)
        while len(self._finished) > self.limits.max_finished:
            oldest, handle = self._finished.popitem(last=False)
            handle.cancel()
            self._jobs.pop(oldest, None)

    def _drop(self, job_id: str) -> None:
        self._finished.pop(job_id, None)
        self._jobs.pop(job_id, None)

    async def aclose(self) -> None:
        """Stop every job and wait for their pumps to end."""
        for job in list(self._jobs.values()):
            await job.aclose("shutdown")
        for handle in self._finished.values():
            handle.cancel()
        self._finished.clear()
        self._jobs.clear()
