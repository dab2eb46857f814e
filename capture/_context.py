"""What a running job owns on its side of the bridge, and the helpers jobs call.

A ``JobContext`` is created per job.  Every thread that works for the job (its
worker thread, the threads it starts, pool work it submits: see ``_hooks.py``) has
its own pair of ``LineWriter`` registered as its stdout and stderr sinks: each
writer keeps its own partial line, so two threads (or stdout and stderr) of one job
never splice half-lines together.  What a writer sends is what a terminal would
show: no ANSI escapes, a carriage-return progress bar as one updating line
(``_text.py``).
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

from . import _proxy
from ._batching import Batcher, ProgressBatch, pieces
from ._events import Event
from ._text import UPDATE_INTERVAL, ProgressUpdate, strip_ansi

__all__ = (
    "Attached",
    "CancelFlag",
    "JobCancelled",
    "JobContext",
    "LineWriter",
    "Thread",
    "bind",
    "check_cancelled",
    "current_job",
    "on_cancel",
    "run_for",
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
        self.thread_failure: str | None = None  # the first exception that ended one of its threads
        # Threads the job started that still run, and whether its own thread has returned: a
        # job is over for admission only when all of them are (threads it leaves behind hold
        # its place, as a stuck job's thread does).
        self._threads_lock = threading.Lock()
        self._threads = 0
        self._main_done = False
        self.on_all_threads_done: Callable[[], None] | None = None
        # What ``logging.basicConfig`` in the job asked for: its own records only.
        self.log_level: int | None = None
        self.log_format: logging.Formatter | None = None

    @property
    def threads(self) -> int:
        """The threads started by the job that are still running (its own thread not counted)."""
        return self._threads

    def thread_started(self) -> None:
        with self._threads_lock:
            self._threads += 1

    def thread_ended(self) -> None:
        with self._threads_lock:
            self._threads -= 1
            done = self._main_done and self._threads == 0
        if done and self.on_all_threads_done is not None:
            self.on_all_threads_done()

    def main_thread_done(self) -> bool:
        """The job's own thread returned; True if no thread it started still runs."""
        with self._threads_lock:
            self._main_done = True
            return self._threads == 0

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

    def thread_failed(self, message: str) -> None:
        """One of the job's threads ended with an exception nobody handled: the job fails."""
        if self.thread_failure is None:
            self.thread_failure = message

    def emit_update(self, text: str) -> None:
        """A new state of an updating line: its own event, never merged with other text."""
        if self.echo:
            _echo(self.name, text)
        self.put(ProgressUpdate(text[-self.batcher.event_limit :]))

    def emit_progress(self, text: str) -> None:
        if len(text) > self.batcher.event_limit:  # rare: one huge print becomes several events
            for piece in pieces(text, self.batcher.event_limit):
                self.emit_progress(piece)
            return
        # The hot path of every printed line: no generator, one lock in the batcher.
        if self.echo:
            _echo(self.name, text)
        batch = self.batcher.add(text)
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
    # A job may print anything, lone surrogates included: the console's encoding must not fail.
    encoding = getattr(console, "encoding", None) or "utf-8"
    out = out.encode(encoding, "backslashreplace").decode(encoding, "replace")
    with _echo_lock:
        console.write(out)
        console.flush()


class LineWriter:
    """One thread's stdout (or stderr) sink for a job: sends complete lines at once, keeps the partial one.

    Text without carriage returns or escapes takes the fast path: complete lines are
    sent as they are printed.  A carriage return makes the current line an updating
    line (see ``_text.py``): its states are sent rate-limited, its final state always.
    """

    __slots__ = (
        "_cr_pending", "_esc", "_partial", "_partial_len", "_sent_at", "_sent_state", "_slow", "_updating", "job"
    )

    def __init__(self, job: JobContext) -> None:
        self.job = job
        self._partial: list[str] = []
        self._partial_len = 0
        self._esc = ""  # an escape sequence cut off at the end of the last write
        self._updating = False  # the current line was rewritten with "\r"
        self._cr_pending = False  # a "\r" was written: the next text replaces the line
        self._sent_state: str | None = None  # the state of the updating line clients have
        self._sent_at = 0.0
        self._slow = False  # an escape or an updating line is pending: every write takes the slow path

    def write(self, text: str) -> int:
        job = self.job
        job.check()
        if "\r" in text or "\x1b" in text or self._slow:
            return self._write_slow(text)
        newline = text.rfind("\n")
        if newline < 0:
            if text:
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

    def _write_slow(self, text: str) -> int:
        """Text with escapes or carriage returns, or on a line that had them."""
        written = len(text)
        if self._esc or "\x1b" in text:
            text, self._esc = strip_ansi(self._esc + text)
        if self._updating or "\r" in text:
            self._write_updating(text)
        elif text:
            self._slow = False  # plain text now (a held escape waits in _esc): the fast path takes it
            self.write(text)
        self._slow = bool(self._esc) or self._updating
        return written

    def _write_updating(self, text: str) -> None:
        """The slow path: text with carriage returns, or text on a line that had them."""
        lines = text.replace("\r\n", "\n").split("\n")
        for i, segment in enumerate(lines):
            if i:
                self._end_line()
            pieces = segment.split("\r")
            for j, piece in enumerate(pieces):
                if j:  # a carriage return: the line updates, the next text replaces it
                    self._updating = self._cr_pending = True
                if piece:
                    if self._cr_pending:
                        self._partial = [piece]
                        self._partial_len = len(piece)
                        self._cr_pending = False
                    else:
                        self._partial.append(piece)
                        self._partial_len += len(piece)
            if self._updating and i == len(lines) - 1:
                self._send_state(final=False)
            elif not self._updating and i == len(lines) - 1 and self._partial_len >= self.job.max_event_chars:
                self.flush()

    def _send_state(self, final: bool) -> None:
        """Send the updating line's current state: the first at once, the next rate-limited."""
        state = "".join(self._partial)
        if not state or state == self._sent_state:
            return
        now = time.monotonic()
        if self._sent_state is None:
            self.job.emit_progress(state + "\n")  # its first state is a line like any other
        elif final or now - self._sent_at >= UPDATE_INTERVAL:
            self.job.emit_update(state + "\n")
        else:
            return
        self._sent_state = state
        self._sent_at = now

    def _end_line(self) -> None:
        """A newline: the current line is complete."""
        if self._updating:
            self._send_state(final=True)
            self._updating = self._cr_pending = False
            self._sent_state = None
        else:
            self.job.emit_progress("".join(self._partial) + "\n")
        self._partial.clear()
        self._partial_len = 0

    def flush(self) -> None:
        """Send the partial line, if any (called on flush, on yield and when the thread's work ends).

        An updating line sends its state instead, rate-limited: progress bars flush after
        every step.
        """
        if self._updating:
            self._send_state(final=False)
        elif self._partial:
            text = "".join(self._partial)
            self._partial.clear()
            self._partial_len = 0
            self.job.emit_progress(text)

    def close(self) -> None:
        """The thread's work for the job ends: what it printed is sent, an updating line's last state too."""
        if self._updating:
            self._send_state(final=True)
            self._updating = self._cr_pending = False
            self._slow = bool(self._esc)
            self._sent_state = None
            self._partial.clear()
            self._partial_len = 0
        else:
            self.flush()


class Attached:
    """A thread working for a job: its stdout and stderr writers, and what it held before."""

    __slots__ = ("_saved", "err", "job", "out")

    def __init__(self, job: JobContext) -> None:
        self.job = job
        self.out = LineWriter(job)
        self.err = LineWriter(job)
        self._saved = _proxy.enter(self.out, self.err, job)

    def flush(self) -> None:
        self.out.flush()
        self.err.flush()

    def finish(self) -> None:
        """Send what is left, an updating line's last state too (raises ``JobCancelled`` if the job is over)."""
        self.err.close()
        self.out.close()

    def close(self) -> None:
        """``finish``, and the thread's state is restored."""
        try:
            self.finish()
        finally:
            _proxy.leave(self._saved)

    def detach(self) -> None:
        """Restore the thread's state without sending anything."""
        _proxy.leave(self._saved)


def current_job() -> JobContext | None:
    """The job the calling thread works for, or None."""
    owner = _proxy.current_owner()
    return owner if isinstance(owner, JobContext) else None


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


def run_for(job: JobContext, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``fn`` in the calling thread as work of ``job``: its output and cancellation are the job's."""
    attached = Attached(job)
    try:
        result = fn(*args, **kwargs)
    except BaseException:
        try:
            attached.close()  # what it printed before it failed still belongs to the job
        except JobCancelled:
            pass
        raise
    attached.close()
    return result


def bind(fn: Callable[P, R]) -> Callable[P, R]:
    """Make ``fn`` run for the calling thread's job, whichever thread runs it.

    Threads a job starts and work it submits to a ``ThreadPoolExecutor`` belong to it
    already; ``bind`` is for handing work to threads it did not start, such as a
    long-lived worker fed through a queue.  Called outside a job, returns ``fn`` unchanged.
    """
    job = current_job()
    if job is None:
        return fn

    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_for(job, fn, *args, **kwargs)

    bound.__wrapped__ = fn  # type: ignore[attr-defined]
    return bound


class Thread(threading.Thread):
    """A ``threading.Thread`` that belongs to the job that *created* it, wherever it is started.

    Plain threads belong to the job whose thread *starts* them; this class is for the
    rarer case of a thread created for a job and started elsewhere.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capture_job: JobContext | None = current_job()
