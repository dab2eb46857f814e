"""What a running job owns on its side of the bridge, and the helpers jobs call.

A ``JobContext`` is created per job.  Every thread that works for the job (its
worker thread, and threads started through ``bind`` / ``Thread``) has its own
``LineWriter`` registered as its stdout sink: each writer keeps its own partial
line, so two threads of one job never splice half-lines together.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import janus

from ._batching import Batcher, ProgressBatch, pieces
from ._events import Event
from ._proxy import current_sink, set_sink

__all__ = (
    "CancelFlag",
    "JobCancelled",
    "JobContext",
    "LineWriter",
    "Thread",
    "bind",
    "check_cancelled",
    "current_job",
    "on_cancel",
    "sleep",
)

logger = logging.getLogger("capture")

P = ParamSpec("P")
R = TypeVar("R")

_echo_lock = threading.Lock()


class CancelFlag:
    """A one-way flag threads can wait on, at the cost of one lock.

    A ``threading.Event`` costs a Condition, a deque and a dict per job; with
    thousands of silent jobs open that is memory and garbage-collector work.  Here
    the lock is held until the flag is set: waiting is acquiring it (with a
    timeout), and each waiter that gets it releases it for the next.
    """

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            try:
                self._lock.release()
            except RuntimeError:  # set twice at the same moment: already released
                pass

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the flag; return whether it is set."""
        if self._set:
            return True
        if self._lock.acquire(timeout=max(0.0, timeout)):
            self._lock.release()
            return True
        return self._set


class JobCancelled(BaseException):
    """Raised in a job's threads once its consumer has gone away.

    A ``BaseException`` on purpose: agent code full of ``except Exception:``
    must not swallow it and carry on working for nobody.
    """


class JobContext:
    """The producer side of one job: its queue, its cancel flag, its batching, its console echo."""

    def __init__(self, queue: janus.Queue[Event | ProgressBatch], name: str, echo: bool, max_event_chars: int) -> None:
        self.name = name
        self.echo = echo
        self.batcher = Batcher(max_event_chars)
        self._sync_q = queue.sync_q
        self._cancelled = CancelFlag()
        self._callbacks_lock = threading.Lock()
        self._on_cancel: list[Callable[[], None]] = []

    @property
    def max_event_chars(self) -> int:
        return self.batcher.event_limit

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()
        with self._callbacks_lock:
            callbacks = list(self._on_cancel)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("job %s: a cancel callback failed", self.name)

    def add_cancel_callback(self, callback: Callable[[], None]) -> None:
        with self._callbacks_lock:
            self._on_cancel.append(callback)
        if self.cancelled:  # cancelled already: run it now
            callback()

    def remove_cancel_callback(self, callback: Callable[[], None]) -> None:
        with self._callbacks_lock:
            if callback in self._on_cancel:
                self._on_cancel.remove(callback)

    def check(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled(self.name)

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; raise ``JobCancelled`` as soon as the job is cancelled."""
        if self._cancelled.wait(seconds):
            raise JobCancelled(self.name)

    def put(self, event: Event) -> None:
        """Hand an event to the consumer, blocking while the bounded queue is full."""
        self.batcher.seal()
        self._put(event)

    def _put(self, item: Event | ProgressBatch) -> None:
        self.check()
        try:
            self._sync_q.put(item)
        except janus.SyncQueueShutDown:
            # The consumer closed the queue: it is gone, so is the job.
            raise JobCancelled(self.name) from None

    def emit_progress(self, text: str) -> None:
        for piece in pieces(text, self.batcher.event_limit):
            if self.echo:
                _echo(self.name, piece)
            batch = self.batcher.add(piece)
            if batch is not None:
                self._put(batch)


def _echo(name: str, text: str) -> None:
    """Copy job output to the server console, each line prefixed with the job's name."""
    console = sys.__stdout__
    if console is None:
        return
    prefix = f"[{name}] "
    lines = text.splitlines(keepends=True)
    out = "".join(prefix + (line if line.endswith("\n") else line + "\n") for line in lines)
    with _echo_lock:
        console.write(out)
        console.flush()


class LineWriter:
    """One thread's stdout sink for a job: sends complete lines at once, keeps the partial one."""

    __slots__ = ("_partial", "_partial_len", "job")

    def __init__(self, job: JobContext) -> None:
        self.job = job
        self._partial: list[str] = []
        self._partial_len = 0

    def write(self, text: str) -> int:
        job = self.job
        job.check()
        if not text:
            return 0
        newline = text.rfind("\n")
        if newline < 0:
            self._partial.append(text)
            self._partial_len += len(text)
            if self._partial_len >= job.max_event_chars:  # bounded: sent without its newline
                self.flush()
            return len(text)
        head = text[: newline + 1]
        if self._partial:
            head = "".join(self._partial) + head
            self._partial.clear()
            self._partial_len = 0
        rest = text[newline + 1 :]
        if rest:
            self._partial.append(rest)
            self._partial_len = len(rest)
        job.emit_progress(head)
        return len(text)

    def flush(self) -> None:
        """Send the partial line, if any (called on flush, on yield and when the thread's work ends)."""
        if self._partial:
            text = "".join(self._partial)
            self._partial.clear()
            self._partial_len = 0
            self.job.emit_progress(text)


def current_job() -> JobContext | None:
    """The job the calling thread works for, or None."""
    sink = current_sink()
    return sink.job if isinstance(sink, LineWriter) else None


def check_cancelled() -> None:
    """Raise ``JobCancelled`` if the calling thread's job has been cancelled."""
    job = current_job()
    if job is not None:
        job.check()


@contextmanager
def on_cancel(callback: Callable[[], None]) -> Iterator[None]:
    """Run ``callback`` (from another thread) if the job is cancelled while inside this block.

    For work that blocks where ``JobCancelled`` cannot reach it, such as reading a
    socket: the callback can close the socket, so that the blocked read returns
    at once. Outside a job it does nothing.
    """
    job = current_job()
    if job is None:
        yield
        return
    job.add_cancel_callback(callback)
    try:
        yield
    finally:
        job.remove_cancel_callback(callback)


def sleep(seconds: float) -> None:
    """A pause that ends early, with ``JobCancelled``, when the job is cancelled.

    ``time.sleep`` cannot be interrupted; jobs that wait should use this.  Outside
    a job it is a plain ``time.sleep``.
    """
    job = current_job()
    if job is None:
        time.sleep(seconds)
    else:
        job.wait(seconds)


def bind(fn: Callable[P, R]) -> Callable[P, R]:
    """Make ``fn`` run for the calling thread's job, whichever thread runs it.

    Use it for work handed to other threads: ``pool.submit(capture.bind(f), x)``.
    What ``fn`` prints then belongs to the job, and it sees the job's
    cancellation.  Called outside a job, returns ``fn`` unchanged.
    """
    job = current_job()
    if job is None:
        return fn

    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        writer = LineWriter(job)
        previous = set_sink(writer)
        try:
            result = fn(*args, **kwargs)
            writer.flush()
            return result
        finally:
            set_sink(previous)

    bound.__wrapped__ = fn  # type: ignore[attr-defined]
    return bound


class Thread(threading.Thread):
    """A ``threading.Thread`` whose output belongs to the job that created it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._job = current_job()

    def run(self) -> None:
        if self._job is None:
            super().run()
            return
        writer = LineWriter(self._job)
        set_sink(writer)
        try:
            super().run()
            writer.flush()
        except JobCancelled:
            pass
        finally:
            set_sink(None)
