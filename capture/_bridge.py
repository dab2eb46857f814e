"""The bridge: one job's events, from its threads to the event loop, over a bounded janus queue.

The third hop of a print.  Everything that crosses between the job's threads and
the request's coroutine is here, in one object per job:

- **the queue.**  The job's threads put events on the sync side of a bounded
  ``janus.Queue``; the reader awaits the async side.  Nothing polls and nothing
  sleeps: janus wakes the reader when an event is put, and a producer blocks only
  while the queue is full (which is what bounds a fast job's memory).
- **batching of printed text.**  The first line printed after the reader took the
  previous batch opens a new batch and is put on the queue at once, which wakes the
  reader, so no delay is added.  Lines printed before the reader gets to it join that
  batch, so a job that prints fast costs one queue operation per batch, not per line.
  Any other event seals the open batch first (order is kept).  Taking a batch closes
  it to new lines; batches already waiting behind it are merged into the same event
  when the reader is behind, up to the event size limit.
- **the cancel flag.**  ``close()`` (the reader is gone: it left, the job was
  cancelled, the server stops) sets it and shuts the queue down: the job's next
  print, yield or ``capture.sleep`` raises ``JobCancelled`` in its thread, and a put
  blocked on a full queue returns at once, raising it too.

``sleep``, ``check_cancelled`` and ``on_cancel`` are the job's own view of that flag.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import janus

from . import _proxy
from ._events import Complete, Error, Event, Progress, ProgressUpdate
from ._lines import echo

__all__ = ("MAX_BATCH", "Bridge", "CancelFlag", "JobCancelled", "check_cancelled", "on_cancel", "sleep")

logger = logging.getLogger("capture")

# Printed text is batched at the source up to this size (or the event limit, when smaller):
# big enough to spare queue operations, small enough that a batch is sent without delay.
MAX_BATCH = 16 * 1024

class JobCancelled(BaseException):
    """Raised in a job's threads once its reader has gone away.

    A ``BaseException`` on purpose: agent code full of ``except Exception:``
    must not swallow it and carry on working for nobody.
    """


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


class _Batch:
    """Printed text waiting for the reader, as one queue item."""

    __slots__ = ("parts", "size", "taken")

    def __init__(self, text: str) -> None:
        self.parts = [text]
        self.size = len(text)
        self.taken = False


class Bridge:
    """One job's events between its threads (the sync side) and its reader (the async side).

    Made on the event loop that reads it.  Read it as an async iterator; it ends after
    the terminal event (``Complete`` or ``Error``), or when it is closed.
    """

    __slots__ = (
        "_async_q",
        "_batch_lock",
        "_callbacks_lock",
        "_cancel_callbacks",
        "_closed",
        "_ended",
        "_flag",
        "_held",
        "_open_batch",
        "_queue",
        "_sync_q",
        "_threads",
        "_threads_done",
        "_threads_lock",
        "batch_limit",
        "echo",
        "log_format",
        "log_level",
        "max_event_chars",
        "name",
        "terminal",
        "thread_failure",
    )

    def __init__(self, name: str, *, queue_size: int, max_event_chars: int, echo: bool = False) -> None:
        if queue_size < 1 or max_event_chars < 1:
            raise ValueError("queue_size and max_event_chars must be at least 1")
        self.name = name
        self.echo = echo  # also copy printed text to the server console, prefixed with the name
        self.max_event_chars = max_event_chars
        self.batch_limit = min(MAX_BATCH, max_event_chars)
        self._queue: janus.Queue[Event | _Batch] = janus.Queue(queue_size)
        self._sync_q = self._queue.sync_q
        self._async_q = self._queue.async_q
        self._flag = CancelFlag()
        self._callbacks_lock = threading.Lock()
        self._cancel_callbacks: list[Callable[[], None]] = []
        self._batch_lock = threading.Lock()
        self._open_batch: _Batch | None = None
        self._held: Event | _Batch | None = None  # taken from the queue, not yet read
        self._ended = False
        self._closed = False
        self.terminal: Complete | Error | None = None  # the last event, once the reader has it
        self.thread_failure: str | None = None  # the first exception that ended one of the job's threads
        # The threads the job started that still run: the job is over for admission only when
        # they are (threads it leaves behind hold its place, as a stuck job's own thread does).
        self._threads_lock = threading.Lock()
        self._threads = 0
        self._threads_done: Callable[[], None] | None = None
        # What ``logging.basicConfig`` in the job asked for (see ``_hooks.py``): its own records only.
        self.log_level: int | None = None
        self.log_format: logging.Formatter | None = None

    # -- the sync side: the job's threads -------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self._flag.is_set()

    def check(self) -> None:
        """Raise ``JobCancelled`` if the reader has gone away."""
        if self._flag.is_set():
            raise JobCancelled(self.name)

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; raise ``JobCancelled`` as soon as the reader is gone."""
        if self._flag.wait(seconds):
            raise JobCancelled(self.name)

    def put(self, event: Event) -> None:
        """Hand an event to the reader, blocking while the queue is full; printed text before it stays before it."""
        with self._batch_lock:
            self._open_batch = None
        self._put(event)

    def put_text(self, text: str) -> None:
        """Printed text (complete lines, or a flushed partial line): batched, see the module docstring."""
        if len(text) > self.max_event_chars:  # rare: one huge print becomes several events
            for start in range(0, len(text), self.max_event_chars):
                self.put_text(text[start : start + self.max_event_chars])
            return
        # The hot path of every printed line: no generator, one lock.
        if self.echo:
            echo(self.name, text)
        with self._batch_lock:
            batch = self._open_batch
            if batch is not None and not batch.taken and batch.size + len(text) <= self.batch_limit:
                batch.parts.append(text)
                batch.size += len(text)
                return
            batch = self._open_batch = _Batch(text)
        self._put(batch)

    def put_update(self, text: str) -> None:
        """A new state of an updating line: its own event, never merged with other text."""
        if self.echo:
            echo(self.name, text)
        self.put(ProgressUpdate(text[-self.max_event_chars :]))

    def _put(self, item: Event | _Batch) -> None:
        self.check()
        try:
            self._sync_q.put(item)
        except janus.SyncQueueShutDown:
            # The reader closed the queue: it is gone, so is the job.
            raise JobCancelled(self.name) from None

    def thread_failed(self, message: str) -> None:
        """One of the job's threads ended with an exception nobody handled: the job fails."""
        if self.thread_failure is None:
            self.thread_failure = message

    def thread_started(self) -> None:
        with self._threads_lock:
            self._threads += 1

    def thread_ended(self) -> None:
        with self._threads_lock:
            self._threads -= 1
            done, self._threads_done = (self._threads_done, None) if self._threads == 0 else (None, self._threads_done)
        if done is not None:
            done()

    def when_threads_end(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once no thread the job started still runs: now, or when the last one ends."""
        with self._threads_lock:
            if self._threads:
                self._threads_done = callback
                return
        callback()

    def add_cancel_callback(self, callback: Callable[[], None]) -> None:
        with self._callbacks_lock:
            self._cancel_callbacks.append(callback)
        if self.cancelled:  # cancelled already: run it now
            callback()

    def remove_cancel_callback(self, callback: Callable[[], None]) -> None:
        with self._callbacks_lock:
            if callback in self._cancel_callbacks:
                self._cancel_callbacks.remove(callback)

    # -- the async side: the reader ---------------------------------------------------------

    def close(self) -> None:
        """The reader is gone: set the cancel flag, run the job's cancel callbacks, shut the queue down.

        Shutting the queue down wakes a reader waiting on it (its iteration ends) and a
        producer blocked on a full queue (its put raises ``JobCancelled``).
        """
        with self._callbacks_lock:
            callbacks = [] if self._flag.is_set() else list(self._cancel_callbacks)
            self._flag.set()
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("job %s: a cancel callback failed", self.name)
        self._queue.close()

    async def aclose(self) -> None:
        """``close()`` and wait for the queue to be closed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._ended = True
        self._held = None
        self.close()
        await self._queue.wait_closed()

    def __aiter__(self) -> Bridge:
        return self

    async def __anext__(self) -> Event:
        if self._ended:
            raise StopAsyncIteration
        item = self._held
        self._held = None
        if item is None:
            try:
                item = await self._async_q.get()
            except janus.AsyncQueueShutDown:
                self._ended = True
                raise StopAsyncIteration from None
        event = self._coalesce(item) if isinstance(item, _Batch) else item
        if isinstance(event, (Complete, Error)):
            self._ended = True
            self.terminal = event
            await self.aclose()
        return event

    def _take(self, batch: _Batch) -> str:
        """Close ``batch`` to new lines and return its text."""
        with self._batch_lock:
            batch.taken = True
            parts = batch.parts
        return parts[0] if len(parts) == 1 else "".join(parts)

    def _coalesce(self, first: _Batch) -> Progress:
        """The text of ``first`` and of the batches already waiting behind it, up to the event limit.

        What was taken from the queue but does not belong in it (another kind of event, or
        text that would make the event too big) is held for the next read.
        """
        text = self._take(first)
        waiting = self._async_q
        if waiting.empty():
            return Progress(text)
        parts = [text]
        size = len(text)
        while not waiting.empty():
            try:
                item = waiting.get_nowait()
            except (asyncio.QueueEmpty, janus.AsyncQueueShutDown):
                break
            if not isinstance(item, _Batch):
                self._held = item
                break
            more = self._take(item)
            if size + len(more) > self.max_event_chars:
                self._held = Progress(more)  # next time: merged here it would make this event too big
                break
            parts.append(more)
            size += len(more)
        return Progress("".join(parts) if len(parts) > 1 else text)

    def queue_full(self) -> bool:
        """Whether the job is as far ahead of its reader as it may get (its next put blocks)."""
        return self._sync_q.full()


# -- what a job calls -----------------------------------------------------------------------


def check_cancelled() -> None:
    """Raise ``JobCancelled`` if the calling thread's job has been cancelled."""
    bridge = _proxy.current_bridge()
    if bridge is not None:
        bridge.check()


@contextmanager
def on_cancel(callback: Callable[[], None]) -> Iterator[None]:
    """Run ``callback`` (from another thread) if the job is cancelled while inside this block.

    For work that blocks where ``JobCancelled`` cannot reach it, such as reading a
    socket: the callback can close the socket, so that the blocked read returns
    at once. Outside a job it does nothing.
    """
    bridge = _proxy.current_bridge()
    if bridge is None:
        yield
        return
    bridge.add_cancel_callback(callback)
    try:
        yield
    finally:
        bridge.remove_cancel_callback(callback)


def sleep(seconds: float) -> None:
    """A pause that ends early, with ``JobCancelled``, when the job is cancelled.

    ``time.sleep`` cannot be interrupted; jobs that wait should use this.  Outside
    a job it is a plain ``time.sleep``.
    """
    bridge = _proxy.current_bridge()
    if bridge is None:
        time.sleep(seconds)
    else:
        bridge.wait(seconds)
