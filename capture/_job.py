"""One job's life, written once: admission, run, events, terminal event, end. The fourth hop of a print.

``Job._lifecycle`` is the only place a job's events are produced: once the job has
a place to run, it makes the job's bridge (``_bridge.py``) and its worker thread
(``_worker.py``), and reads the bridge. It is read
either by a pump task that writes it into the job's ``EventLog`` (resumable
jobs: any number of readers, reconnects resume) or, for a job with exactly one
reader that never resumes (the OpenAI route), by that reader itself: the same
events with the same sequence numbers, minus a task hop per event (+25 % wall
time at 1,000 streams when every job went through a log; see BENCHMARKS.md).

Every job ends with exactly one terminal event, ``Complete`` or ``Error``, whose
``kind`` says why it ended (see ``EndReason``): readers never have to guess.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ._admission import Admission, Ticket
from ._bridge import Bridge
from ._events import Complete, Content, Entry, Error, Event, Gap, JobInfo, JobStatus, Progress, Terminal, status_of
from ._limits import Limits
from ._log import EventLog
from ._worker import Worker

__all__ = ("Job",)

_background: set[asyncio.Task[None]] = set()  # tasks nobody awaits, kept until they end

logger = logging.getLogger("capture")

# A job whose thread still runs this long after the job ended ignores cancellation (a
# blocking sleep, a long computation without a print): it is counted and logged as stuck.
STUCK_AFTER = 5.0
THREAD_RETURN_WAIT = 1.0  # seconds the job's end waits for its thread

FIRST_READER_WAIT = 5.0  # seconds a new job waits for its first reader, whatever its grace period

_STOP_MESSAGES = {
    "cancelled": "The job was stopped.",
    "abandoned": "The job was stopped: nobody was reading it any more.",
    "shutdown": "The server is shutting down, so the job was stopped. Please try again in a moment.",
    "store_unavailable": "The job store is unavailable, so the job was stopped. Please try again in a moment.",
    "worker_lost": "This server process was unreachable for too long and the job was declared lost; it was "
                   "stopped. Please start it again.",
}


def stopped_error(reason: str, limits: Limits) -> Error:
    """The terminal event of a job stopped from outside for ``reason`` (``cancelled``, ``timeout`` …)."""
    if reason == "timeout":
        return Error(f"The job ran longer than the limit of {limits.max_run_time:g} s and was stopped.", kind=reason)
    return Error(_STOP_MESSAGES.get(reason, "The job was stopped."), kind=reason)


class Job:
    """A running or finished job in this process. Made by ``MemoryJobRegistry.start``."""

    __slots__ = (
        "_admission",
        "_answer",
        "_call",
        "_cancel_reason",
        "_deadline",
        "_echo",
        "_ended",
        "_grace",
        "_log",
        "_next_seq",
        "_on_end",
        "_on_entry",
        "_pump",
        "_reader_taken",
        "_readers",
        "_still_wanted",
        "_ticket",
        "_worker",
        "created",
        "finished",
        "grace_period",
        "id",
        "limits",
        "model",
        "status",
        "tags",
        "terminal",
    )

    def __init__(
        self,
        job_id: str,
        model: str,
        call: Callable[[], Any],
        limits: Limits,
        admission: Admission,
        *,
        echo: bool,
        resumable: bool,
        grace_period: float,
        tags: dict[str, str],
        on_end: Callable[[Job], None],
        on_entry: Callable[[Job, Entry], None] | None = None,
        still_wanted: Callable[[str], Awaitable[bool]] | None = None,
        first_seq: int = 1,
    ) -> None:
        self.id = job_id
        self.model = model
        self.limits = limits
        self.grace_period = grace_period
        self.tags = tags
        self.created = time.time()
        self.finished: float | None = None
        self.terminal: Terminal | None = None
        self._call = call  # the job itself: a blocking callable in the job protocol
        self._echo = echo
        self._worker: Worker | None = None  # its thread and bridge, once it has a place to run
        self._admission = admission
        self._ticket: Ticket = admission.reserve()  # raises Overloaded: nothing was started
        self.status: JobStatus = "running" if self._ticket.admitted else "queued"
        self._answer: list[str] = []
        self._next_seq = first_seq  # above 1: a worker continues a stream begun elsewhere (queued, restarted)
        self._log = EventLog(limits.log_events, limits.log_chars, first_seq) if resumable else None
        self._cancel_reason: str | None = None  # why it was stopped from outside (cancel's reason)
        self._deadline: asyncio.TimerHandle | None = None
        self._grace: asyncio.TimerHandle | None = None
        self._ended: asyncio.Event | None = None  # made when someone waits for the end
        self._readers = 0
        self._reader_taken = False
        self._on_end = on_end
        self._on_entry = on_entry  # sees each logged entry (a shared registry copies it out)
        self._still_wanted = still_wanted  # asked before abandoning: has a reader elsewhere?
        self._pump: asyncio.Task[None] | None = None
        if self._log is not None:
            self._pump = asyncio.get_running_loop().create_task(self._write_log(), name=f"pump:{job_id}")
            # A pump cancelled before it first ran never reaches its finally: end the job anyway.
            self._pump.add_done_callback(lambda _: self._end())
        # A job nobody ever reads is stopped too; its first reader may take a moment to
        # arrive (a response starts streaming after its handler returns).
        self._start_grace(at_least=FIRST_READER_WAIT)

    # -- what others see ---------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    @property
    def first_kept_seq(self) -> int:
        """The oldest event its log still holds for resuming (1 when it has no log)."""
        return self._log.first_seq if self._log is not None else 1

    @property
    def worker(self) -> Worker | None:
        """Its thread and bridge (None until it has a place to run)."""
        return self._worker

    def info(self) -> JobInfo:
        return JobInfo(
            id=self.id,
            model=self.model,
            status=self.status,
            created=self.created,
            finished=self.finished,
            last_seq=self.last_seq,
            answer="".join(self._answer),
            terminal=self.terminal,
            tags=self.tags,
        )

    # -- the one lifecycle ---------------------------------------------------------------

    async def _lifecycle(self) -> AsyncIterator[Event]:
        """Wait for a place, run the job, yield its events; always end with a terminal event."""
        ticket = self._ticket
        if not ticket.admitted:
            async for ahead in self._admission.wait(ticket):
                yield Progress(f"Waiting for a free worker: {ahead} ahead.\n")
            if self._cancel_reason is None:
                yield Progress("A worker is free: starting.\n")
        if self._cancel_reason is not None:
            yield stopped_error(self._cancel_reason, self.limits)
            return
        self.status = "running"
        limits = self.limits
        bridge = Bridge(self.id, queue_size=limits.queue_size, max_event_chars=limits.max_event_chars, echo=self._echo)
        worker = self._worker = Worker(bridge, self._call)
        if limits.max_run_time > 0:
            self._deadline = asyncio.get_running_loop().call_later(limits.max_run_time, self.cancel, "timeout")
        async with worker as events:
            async for event in events:
                yield event
        # Its thread returns within moments of its last event, or of being stopped: waiting
        # for that (briefly) frees its place when the job ends, not a moment later.
        if not worker.returned:
            try:
                await asyncio.wait_for(worker.wait_returned(), THREAD_RETURN_WAIT)
            except TimeoutError:
                pass  # it ignores cancellation: it keeps its place anyway (see _release_place)
        if bridge.terminal is None:  # stopped from outside: say why
            yield stopped_error(self._cancel_reason or "cancelled", limits)

    def _record(self, event: Event) -> Entry:
        entry = Entry(self._next_seq, event)
        self._next_seq += 1
        if isinstance(event, Content):
            self._answer.append(event.text)
        elif isinstance(event, (Complete, Error)):
            self.terminal = event
        return entry

    async def _write_log(self) -> None:
        """The pump of a resumable job: the lifecycle's events into the log."""
        log = self._log
        assert log is not None
        try:
            async for event in self._lifecycle():
                await log.wait_for_room()
                entry = self._record(event)
                log.append(entry)
                if self._on_entry is not None:
                    self._on_entry(self, entry)
        finally:
            self._end()

    def entries(self, after: int = 0) -> AsyncIterator[Entry | Gap]:
        """The events after sequence number ``after``, as they come, ending with the terminal one.

        Returns the reading generator itself rather than wrapping it: every layer of async
        generator costs each event a frame switch (measured: single-stream throughput).
        """
        if self._log is None:
            return self._read_directly()
        return self._read_log(after)

    async def _read_log(self, after: int) -> AsyncIterator[Entry | Gap]:
        assert self._log is not None
        self._readers += 1
        self._cancel_grace()
        try:
            async for item in self._log.read(after):
                yield item
        finally:
            self._readers -= 1
            if not self._readers:
                self._start_grace()

    async def _read_directly(self) -> AsyncIterator[Entry]:
        """The one reader of a job without a log: the job runs while it reads and stops when it leaves."""
        if self._reader_taken:
            raise RuntimeError(f"{self.id} has its reader already")
        self._reader_taken = True
        self._cancel_grace()
        try:
            async for event in self._lifecycle():
                yield self._record(event)
        finally:
            self._end("abandoned")

    # -- stopping ----------------------------------------------------------------------

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the job: its thread stops at its next print, yield or capture.sleep, and its
        events end with an ``Error`` of kind ``reason`` (``cancelled``, ``timeout``, ``abandoned`` …)."""
        if self.finished is not None or self._cancel_reason is not None:
            return
        self._cancel_reason = reason
        if not self._ticket.admitted:
            self._admission.release(self._ticket)  # ends its wait for a place
        if self._worker is not None:
            self._worker.bridge.close()
        if self._log is None and not self._reader_taken:
            self._end(reason)  # nobody will ever run its lifecycle

    async def wait_ended(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the job's end; return whether it ended."""
        if self.finished is not None:
            return True
        if self._ended is None:
            self._ended = asyncio.Event()
        try:
            await asyncio.wait_for(self._ended.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _start_grace(self, at_least: float = 0.0) -> None:
        """Nobody is reading: stop the job after the grace period unless a reader comes back."""
        if self.finished is not None or self._grace is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a reader finalised outside the loop: the loop is gone anyway
            return
        self._grace = loop.call_later(max(at_least, self.grace_period), self._grace_expired)

    def _grace_expired(self) -> None:
        self._grace = None
        if self._still_wanted is None:
            self.cancel("abandoned")
            return

        async def ask() -> None:
            assert self._still_wanted is not None
            try:
                wanted = await self._still_wanted(self.id)
            except Exception:  # noqa: BLE001 - a store that cannot answer: nobody is reading there
                wanted = False
            if self.finished is not None or self._readers:
                return
            if wanted:
                self._start_grace()
            else:
                self.cancel("abandoned")

        task = asyncio.get_running_loop().create_task(ask(), name=f"grace:{self.id}")
        _background.add(task)
        task.add_done_callback(_background.discard)

    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def _end(self, reason: str = "cancelled") -> None:
        """Record the end (once): status, time, the place it held, readers woken."""
        if self.finished is not None:
            return
        if self.terminal is None:  # its reader or pump went away before the terminal event
            self.terminal = stopped_error(self._cancel_reason or reason, self.limits)
        self.status = status_of(self.terminal)
        self.finished = time.time()
        if self._deadline is not None:
            self._deadline.cancel()
        self._release_place()
        self._cancel_grace()
        if self._log is not None:
            self._log.close()
        if self._ended is not None:
            self._ended.set()
        self._on_end(self)

    def _release_place(self) -> None:
        """Give the job's place to the next in line once its thread has really returned.

        A thread cannot be stopped from outside: one that ignores cancellation keeps its
        place (the limit bounds threads, not just jobs) until it ends, and is counted in
        ``Admission.stuck`` and logged meanwhile.
        """
        worker = self._worker
        if worker is None or worker.thread is None or worker.returned or not self._ticket.admitted:
            self._admission.release(self._ticket)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the loop is being torn down: nobody is waiting for the place
            self._admission.release(self._ticket)
            return
        task = loop.create_task(self._release_when_thread_ends(worker), name=f"release:{self.id}")
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _release_when_thread_ends(self, worker: Worker) -> None:
        admission = self._admission
        try:
            try:
                await asyncio.wait_for(worker.wait_returned(), STUCK_AFTER)
                return
            except TimeoutError:
                pass
            admission.stuck += 1
            logger.warning(
                "job %s is stuck: its thread still runs %.0f s after the job ended, and keeps its "
                "place until it returns", self.id, STUCK_AFTER,
            )
            try:
                await worker.wait_returned()
            finally:
                admission.stuck -= 1
            logger.warning("job %s: its stuck thread returned; its place is free", self.id)
        finally:
            admission.release(self._ticket)

    async def aclose(self, reason: str = "shutdown") -> None:
        """Stop the job and wait for its pump (used when the registry closes)."""
        self.cancel(reason)
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            try:
                await self._pump
            except asyncio.CancelledError:
                pass
        self._end(reason)

