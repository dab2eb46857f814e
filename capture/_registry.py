"""Jobs as resources: a registry that owns running jobs, their event logs and their readers.

A job started here outlives any one connection: a pump task reads its
``JobStream`` into a bounded log, and readers (subscribers) read the log from
any point, so a client that reconnects resumes exactly where it left off.

- Every event gets a sequence number (1, 2, 3 …). A reader asks for the events
  after a number; if the log no longer holds some of them it first gets a
  ``Gap`` saying which were lost.
- The log is bounded by events and by characters. While readers are attached,
  the pump stops reading the job when the log is full of events the slowest of
  them has not read yet (the job then waits on its own bounded queue): connected
  readers lose nothing. With nobody attached, the oldest events are dropped.
- When the last reader leaves a running job, it is cancelled after a grace
  period unless a reader comes back. A finished job is kept for a while, then
  dropped; the registry also keeps at most ``max_finished`` finished jobs.

``JobRegistry`` is the interface the service uses; ``MemoryJobRegistry`` is the
embedded implementation (one process). A shared store can implement the same
interface to serve several processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._admission import Admission, Overloaded, Ticket
from ._bridge import DEFAULT_QUEUE_SIZE, MAX_EVENT_CHARS, JobStream
from ._events import Complete, Content, Error, Event, Progress

__all__ = (
    "Entry",
    "Gap",
    "Job",
    "JobRegistry",
    "JobStatus",
    "MemoryJobRegistry",
    "Overloaded",
    "RegistryLimits",
)

JobStatus = str  # "queued" | "running" | "complete" | "failed" | "cancelled"

FIRST_READER_WAIT = 5.0  # seconds a new job waits for its first reader, whatever its grace period


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of a job's log."""

    seq: int
    event: Event


@dataclass(frozen=True, slots=True)
class Gap:
    """Events ``first``..``last`` are no longer in the log: a reader came back too late for them."""

    first: int
    last: int


@dataclass(frozen=True, slots=True)
class RegistryLimits:
    grace_period: float = 30.0  # seconds a running job waits for a reader to come back
    retention: float = 300.0  # seconds a finished job stays readable
    log_events: int = 10_000  # events a job's log keeps
    log_chars: int = 1 << 20  # characters a job's log keeps
    max_finished: int = 256  # finished jobs kept at most
    max_running: int = 64  # jobs running at once
    max_waiting: int = 256  # jobs waiting for a place to run; beyond, start() raises Overloaded
    max_run_time: float = 0.0  # seconds a job may run before it is stopped (0: no limit)
    max_event_chars: int = MAX_EVENT_CHARS  # characters of printed text in one event


def _size(event: Event) -> int:
    if isinstance(event, (Progress, Content)):
        return len(event.text) + 64
    return 256


@dataclass(eq=False, slots=True)  # slots: thousands of jobs may be open at once
class Job:
    """A running or finished job and its log. Created by a registry, read through ``entries``."""

    id: str
    model: str
    stream: JobStream
    limits: RegistryLimits
    grace_period: float
    created: float = field(default_factory=time.time)
    finished: float | None = None
    status: JobStatus = "running"
    terminal: Complete | Error | None = None
    answer: list[str] = field(default_factory=list)  # every Content text, in order: the whole answer
    _log: list[Entry] = field(default_factory=list)
    _head: int = 0  # index in _log of the oldest kept entry
    _chars: int = 0
    _next_seq: int = 1
    _changed: asyncio.Event | None = None  # readers wait on it; made when one first has to
    _room: asyncio.Event | None = None  # the pump waits on it while the log is full
    _readers: dict[int, int] = field(default_factory=dict)  # reader → last seq it has read
    _reader_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _grace: asyncio.TimerHandle | None = None
    _pump: asyncio.Task[None] | None = None
    _on_finish: Callable[[Job], None] | None = None
    # A job with one reader that never resumes (the OpenAI route) needs no log: its
    # reader reads the stream itself, sparing a task hop per event.
    direct: bool = False
    tags: dict[str, str] = field(default_factory=dict)  # what the caller wants to remember (a request id)
    admission: Admission | None = None
    ticket: Ticket | None = None
    _timed_out: bool = False
    _deadline: asyncio.TimerHandle | None = None
    _direct_reader: bool = False

    # -- reading ---------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def _first_kept(self) -> int:
        return self._log[self._head].seq if self._head < len(self._log) else self._next_seq

    async def entries(self, after: int = 0) -> AsyncIterator[Entry | Gap]:
        """The events after sequence number ``after``, as they come, ending with the terminal one."""
        if self.direct:
            async for entry in self._read_directly():
                yield entry
            return
        reader = next(self._reader_ids)
        self._attach(reader, after)
        position = after
        try:
            while True:
                first = self._first_kept()
                if position + 1 < first:
                    yield Gap(position + 1, first - 1)
                    position = first - 1
                    self._read(reader, position)
                while position < self.last_seq:
                    entry = self._log[self._head + position + 1 - self._first_kept()]
                    yield entry
                    position = entry.seq
                    self._read(reader, position)
                if self.finished is not None:
                    return
                if self._changed is None:
                    self._changed = asyncio.Event()
                await self._changed.wait()
        finally:
            self._detach(reader)

    async def _read_directly(self) -> AsyncIterator[Entry]:
        """The one reader of a direct job: the job runs while it reads and stops when it leaves."""
        if self._direct_reader:
            raise RuntimeError(f"{self.id} has its reader already")
        self._direct_reader = True
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        try:
            async for text in self._wait_for_a_place():
                seq = self._next_seq
                self._next_seq += 1
                yield Entry(seq, Progress(text))
            async with self.stream as events:
                async for event in events:
                    seq = self._next_seq
                    self._next_seq += 1
                    self._record(event)
                    yield Entry(seq, event)
            if self._timed_out:
                seq = self._next_seq
                self._next_seq += 1
                event = self._timeout_error()
                self._record(event)
                yield Entry(seq, event)
        finally:
            self._end()

    async def _wait_for_a_place(self) -> AsyncIterator[str]:
        """Wait for admission, telling the reader where the job stands; then start the run-time clock."""
        if self.admission is not None and self.ticket is not None and not self.ticket.admitted:
            self.status = "queued"
            async for ahead in self.admission.wait(self.ticket):
                yield f"Waiting for a free worker: {ahead} ahead.\n"
            yield "A worker is free: starting.\n"
        self.status = "running"
        if self.limits.max_run_time > 0:
            self._deadline = asyncio.get_running_loop().call_later(self.limits.max_run_time, self._time_out)

    def _time_out(self) -> None:
        self._timed_out = True
        self.stream.cancel()

    def _timeout_error(self) -> Error:
        limit = self.limits.max_run_time
        return Error(f"The job ran longer than the limit of {limit:g} s and was stopped.", kind="timeout")

    def _attach(self, reader: int, after: int) -> None:
        self._readers[reader] = after
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def _read(self, reader: int, seq: int) -> None:
        self._readers[reader] = seq
        if self._room is not None:
            self._room.set()  # the pump is waiting for room in the log

    def _detach(self, reader: int) -> None:
        self._readers.pop(reader, None)
        if self._room is not None:
            self._room.set()
        if not self._readers:
            self._start_grace()

    def _start_grace(self, at_least: float = 0.0) -> None:
        """Nobody is reading: cancel the job after the grace period unless a reader comes back."""
        if self.finished is not None or self._grace is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a reader finalised outside the loop: the loop is gone anyway
            return
        self._grace = loop.call_later(max(at_least, self.grace_period), self.cancel)

    def _wake(self) -> None:
        """Tell waiting readers the log changed."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- writing (the pump) ------------------------------------------------------------

    def _full(self) -> bool:
        kept = len(self._log) - self._head
        return kept >= self.limits.log_events or self._chars >= self.limits.log_chars

    async def _wait_for_room(self) -> None:
        """Wait while the log is full of events an attached reader has not read yet."""
        while self._full() and self._readers and min(self._readers.values()) < self._first_kept():
            self._room = asyncio.Event()
            try:
                await self._room.wait()
            finally:
                self._room = None

    def _append(self, event: Event) -> None:
        while self._full() and self._head < len(self._log):
            self._chars -= _size(self._log[self._head].event)
            self._head += 1
        if self._head > 1024 and self._head * 2 > len(self._log):
            del self._log[: self._head]
            self._head = 0
        self._log.append(Entry(self._next_seq, event))
        self._chars += _size(event)
        self._next_seq += 1
        self._wake()

    async def _run(self) -> None:
        """The pump: read the job's stream into the log until it ends or is cancelled."""
        try:
            async for text in self._wait_for_a_place():
                self._append(Progress(text))
            async with self.stream as events:
                async for event in events:
                    await self._wait_for_room()
                    self._append(event)
                    self._record(event)
            if self._timed_out:
                event = self._timeout_error()
                self._append(event)
                self._record(event)
        finally:
            self._end()

    def _record(self, event: Event) -> None:
        if isinstance(event, Content):
            self.answer.append(event.text)
        elif isinstance(event, (Complete, Error)):
            self.terminal = event
            self.status = "complete" if isinstance(event, Complete) else "failed"

    def _end(self) -> None:
        if self.finished is not None:
            return
        if self.status in ("running", "queued"):
            self.status = "cancelled"
        self.finished = time.time()
        if self._deadline is not None:
            self._deadline.cancel()
        if self.admission is not None and self.ticket is not None:
            self.admission.release(self.ticket)
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self._wake()
        if self._on_finish is not None:
            self._on_finish(self)

    def cancel(self) -> None:
        """Stop the job (its thread stops at its next print, yield or capture.sleep)."""
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        elif self.direct and self.finished is None:
            # Its reader sees the queue close and ends; a reader that never came ends it here.
            self.stream.cancel()
            if not self._direct_reader:
                self._end()

    async def stop(self, timeout: float = 2.0) -> None:
        """Cancel the job and wait (up to ``timeout`` s) until it is recorded as ended."""
        self.cancel()
        if self._pump is not None:
            await asyncio.wait({self._pump}, timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.finished is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def describe(self) -> dict[str, Any]:
        """The job as a resource, for ``GET /v1/jobs/{id}``."""
        info: dict[str, Any] = {
            "id": self.id,
            "object": "job",
            "model": self.model,
            "status": self.status,
            "created": self.created,
            "finished": self.finished,
            "events": self.last_seq,
            "content": "".join(self.answer),
        }
        if isinstance(self.terminal, Complete):
            info["result"] = self.terminal.results
        elif isinstance(self.terminal, Error):
            info["error"] = {"message": self.terminal.message, "kind": self.terminal.kind}
        return info


class JobRegistry(Protocol):
    """What the service needs from wherever jobs live."""

    def start(
        self,
        job: Callable[[], Any],
        model: str,
        *,
        grace_period: float | None = None,
        direct: bool = False,
        tags: dict[str, str] | None = None,
    ) -> Job: ...

    def get(self, job_id: str) -> Job | None: ...

    def running(self) -> int: ...

    def waiting(self) -> int: ...

    def cancel_all(self) -> None: ...

    async def aclose(self) -> None: ...


class MemoryJobRegistry:
    """Jobs in this process's memory, bounded by ``RegistryLimits``."""

    def __init__(
        self,
        limits: RegistryLimits | None = None,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        echo: bool = False,
        on_finish: Callable[[Job], None] | None = None,
    ) -> None:
        self.limits = limits or RegistryLimits()
        self.admission = Admission(self.limits.max_running, self.limits.max_waiting)
        self._queue_size = queue_size
        self._echo = echo
        self._on_finish = on_finish
        self._jobs: dict[str, Job] = {}
        self._finished: OrderedDict[str, asyncio.TimerHandle] = OrderedDict()

    def start(
        self,
        job: Callable[[], Any],
        model: str,
        *,
        grace_period: float | None = None,
        direct: bool = False,
        tags: dict[str, str] | None = None,
    ) -> Job:
        """Run ``job()`` (a blocking callable, see ``run_job``) until it ends or is cancelled.

        Call from the event loop. ``grace_period`` overrides the registry's for this
        job. A ``direct`` job has exactly one reader, which runs it while it reads
        (no log, no resuming): it starts with its reader and stops when it leaves.
        """
        ticket = self.admission.reserve()  # raises Overloaded: nothing was started
        job_id = f"job_{secrets.token_hex(8)}"
        stream = JobStream(
            job,
            name=job_id,
            queue_size=self._queue_size,
            echo=self._echo,
            max_event_chars=self.limits.max_event_chars,
        )
        record = Job(
            id=job_id,
            model=model,
            stream=stream,
            limits=self.limits,
            grace_period=self.limits.grace_period if grace_period is None else grace_period,
            direct=direct,
            tags=dict(tags or {}),
            admission=self.admission,
            ticket=ticket,
        )
        record._on_finish = self._finished_job
        record.status = "running" if ticket.admitted else "queued"
        self._jobs[job_id] = record
        if not direct:
            record._pump = asyncio.get_running_loop().create_task(record._run(), name=f"pump:{job_id}")
            # A pump cancelled before it first ran never reaches its finally: end the job anyway.
            record._pump.add_done_callback(lambda _: record._end())
        # A job nobody ever reads is cancelled too; its first reader may take a moment
        # to arrive (a response starts streaming after its handler returns).
        record._start_grace(at_least=FIRST_READER_WAIT)
        return record

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def running(self) -> int:
        return self.admission.running

    def waiting(self) -> int:
        return self.admission.waiting

    def cancel_all(self) -> None:
        """Cancel every running job (readers then see their jobs end)."""
        for job in list(self._jobs.values()):
            job.cancel()

    def _finished_job(self, job: Job) -> None:
        if self._on_finish is not None:
            self._on_finish(job)
        loop = asyncio.get_running_loop()
        self._finished[job.id] = loop.call_later(self.limits.retention, self._drop, job.id)
        while len(self._finished) > self.limits.max_finished:
            oldest, handle = self._finished.popitem(last=False)
            handle.cancel()
            self._jobs.pop(oldest, None)

    def _drop(self, job_id: str) -> None:
        self._finished.pop(job_id, None)
        self._jobs.pop(job_id, None)

    async def aclose(self) -> None:
        """Cancel every running job and wait for their pumps to end."""
        for job in list(self._jobs.values()):
            if job.direct:
                job.cancel()
        pumps = [job._pump for job in self._jobs.values() if job._pump is not None and not job._pump.done()]
        for pump in pumps:
            pump.cancel()
        for pump in pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        for handle in self._finished.values():
            handle.cancel()
        self._finished.clear()
        self._jobs.clear()
