"""The bridge: a blocking job in a worker thread, its events as an async iterator.

The worker puts events on a bounded ``janus.Queue`` from its sync side; the
request's coroutine awaits the async side.  Nothing polls and nothing sleeps:
the consumer is woken by janus when an event is put, the producer blocks only
while the queue is full (which is what bounds a fast job's memory).

Lifecycle, in one place because every leak hides in it::

    async with run_job(job, *args) as events:   # thread started
        async for event in events: ...          # Progress/Content..., then Complete|Error
    # leaving the block (normally, by break, by cancellation) cancels the job:
    # its next print/yield/capture.sleep raises JobCancelled, the queue is
    # closed, and the thread ends on its own.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import janus

from ._batching import ProgressBatch
from ._context import Attached, JobCancelled, JobContext
from ._events import Complete, Content, Error, Event, Progress
from ._hooks import install
from ._limits import Limits
from ._proxy import suspended
from ._text import short_error_message
from ._threads import start_thread

__all__ = ("JobStream", "run_job")

logger = logging.getLogger("capture")

_DEFAULTS = Limits()

_ids = itertools.count(1)


class JobStream:
    """A job running in its own thread, read as an async iterator of events."""

    def __init__(
        self,
        job: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        queue_size: int = _DEFAULTS.queue_size,
        echo: bool = False,
        max_event_chars: int = _DEFAULTS.max_event_chars,
        **kwargs: Any,
    ) -> None:
        if queue_size < 1 or max_event_chars < 1:
            raise ValueError("queue_size and max_event_chars must be at least 1")
        self._max_event_chars = max_event_chars
        self.name = name or f"job-{next(_ids)}"
        self._job = job
        self._args = args
        self._kwargs = kwargs
        self._queue_size = queue_size
        self._echo = echo
        self._queue: janus.Queue[Event | ProgressBatch] | None = None
        self._context: JobContext | None = None
        self._thread: threading.Thread | None = None
        self._held: Event | ProgressBatch | None = None
        self._worker_done = False
        self._finished_future: asyncio.Future[None] | None = None
        self._ended = False
        self._closed = False
        self.terminal: Complete | Error | None = None  # the last event, once the reader has it

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread. Must be called from the event loop that will read."""
        if self._thread is not None:
            raise RuntimeError("job already started")
        install()
        loop = asyncio.get_running_loop()
        self._finished_future = loop.create_future()
        self._queue = janus.Queue(self._queue_size)
        self._context = JobContext(self._queue, self.name, self._echo, self._max_event_chars)
        self._thread = threading.Thread(
            target=self._work, args=(loop,), name=f"capture:{self.name}", daemon=True
        )
        start_thread(self._thread, functools.partial(self._start_failed, loop))

    def cancel(self) -> None:
        """Cancel the job from outside its reader: the reader then sees the stream end."""
        if self._context is not None:
            self._context.cancel()
        if self._queue is not None:
            self._queue.close()  # wakes a reader waiting on it and a producer blocked on it

    async def aclose(self) -> None:
        """Stop reading: cancel the job if it still runs and close the queue. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._ended = True
        self._held = None
        if self._context is not None:
            self._context.cancel()
        if self._queue is not None:
            # Shutting the queue down wakes a producer blocked on a full queue;
            # its put raises and becomes JobCancelled in the job thread.
            self._queue.close()
            await self._queue.wait_closed()

    async def __aenter__(self) -> JobStream:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def finished(self) -> bool:
        """True once the worker thread, and every thread the job started, have returned."""
        return self._worker_done

    async def wait_finished(self) -> None:
        """Wait until the worker thread and the job's threads have returned (wrap in a timeout where it matters)."""
        if self._finished_future is None or self._worker_done:
            return
        await asyncio.shield(self._finished_future)

    # -- consumer side -----------------------------------------------------

    def __aiter__(self) -> JobStream:
        return self

    async def __anext__(self) -> Event:
        if self._ended:
            raise StopAsyncIteration
        assert self._queue is not None, "use 'async with run_job(...)' or call start()"
        item = self._held
        self._held = None
        if item is None:
            try:
                item = await self._queue.async_q.get()
            except janus.AsyncQueueShutDown:
                self._ended = True
                raise StopAsyncIteration from None
        event = self._coalesce(item) if isinstance(item, ProgressBatch) else item
        if isinstance(event, (Complete, Error)):
            self._ended = True
            self.terminal = event
            await self.aclose()
        return event

    def _coalesce(self, batch: ProgressBatch) -> Progress:
        assert self._queue is not None and self._context is not None
        event, held = self._context.batcher.coalesce(batch, self._queue.async_q)
        self._held = held
        return event

    # -- producer side (worker thread) ---------------------------------------

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        """The job's life in its worker thread."""
        context = self._context
        assert context is not None
        attached = Attached(context)
        try:
            terminal = self._run(context, attached)
            if terminal is not None:
                try:
                    context.put(terminal)
                except JobCancelled:
                    pass
        finally:
            attached.detach()
            context.on_all_threads_done = functools.partial(self._threads_done, loop)
            if context.main_thread_done():
                self._threads_done(loop)

    def _threads_done(self, loop: asyncio.AbstractEventLoop) -> None:
        """The job's thread, and every thread it started, have returned."""
        self._worker_done = True
        try:
            loop.call_soon_threadsafe(self._mark_finished)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _start_failed(self, loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
        """The thread could not start: the reader gets an error instead of waiting for ever."""
        assert self._context is not None
        try:
            self._context.put(Error("the server could not start this job; try again later", kind="overloaded"))
        except JobCancelled:
            pass
        self._worker_done = True
        try:
            loop.call_soon_threadsafe(self._mark_finished)
        except RuntimeError:
            pass

    def _mark_finished(self) -> None:
        if self._finished_future is not None and not self._finished_future.done():
            self._finished_future.set_result(None)

    def _run(self, context: JobContext, writer: Attached) -> Event | None:
        """Run the job to its end; return the terminal event (None when cancelled)."""
        result: Any = None
        try:
            result = self._job(*self._args, **self._kwargs)
            if isinstance(result, Iterator):
                terminal = self._drain(result, context, writer)
                if terminal is not None:
                    return terminal
                result = None
            writer.finish()
            if context.thread_failure is not None:  # one of its threads failed, and nobody handled it
                return Error(context.thread_failure)
            return Complete(_as_results(result))
        except JobCancelled:
            return None
        except BaseException as exc:
            if context.cancelled:
                return None
            with suspended():  # the traceback is the server's, not the job's
                logger.error("job %s failed", self.name, exc_info=exc)
            try:
                writer.finish()
            except JobCancelled:
                return None
            return Error(short_error_message(exc))
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                # Runs the generator's finally blocks; a print there after
                # cancellation raises JobCancelled again, which is fine.
                try:
                    close()
                except JobCancelled:
                    pass
                except Exception:
                    logger.exception("job %s failed while closing", self.name)

    def _drain(self, items: Iterator[Any], context: JobContext, writer: Attached) -> Event | None:
        """Forward what a generator job yields; return its terminal event if it sent one."""
        for item in items:
            # A yield is a flush point and a cancellation point.
            writer.flush()
            context.check()
            event = _to_event(item)
            if isinstance(event, (Complete, Error)):
                writer.finish()
                if isinstance(event, Complete) and context.thread_failure is not None:
                    return Error(context.thread_failure)
                return event
            context.put(event)
        return None


def _to_event(item: Any) -> Event:
    """Translate one item of the job protocol (a dict, as in the seed) into an event."""
    if isinstance(item, (Progress, Content, Complete, Error)):
        return item
    if not isinstance(item, dict):
        raise TypeError(f"a job must yield dicts, not {type(item).__name__}")
    kind = item.get("type")
    if kind == "progress":
        return Progress(str(item.get("content", "")))
    if kind == "content":
        return Content(str(item.get("content", "")))
    if kind == "complete":
        results = item.get("results", {})
        return Complete(_as_results(results))
    if kind == "error":
        message = str(item.get("message") or item.get("content") or "job failed")
        return Error(message, str(item.get("kind") or "job_error"))
    raise ValueError(f"unknown job event type {kind!r}")


def _as_results(value: Any) -> dict[str, Any]:
    """A job's final value as ``Complete.results``: a dict as is, anything else under "result"."""
    if value is None:
        return {}
    return value if isinstance(value, dict) else {"result": value}


def run_job(
    job: Callable[..., Any],
    *args: Any,
    name: str | None = None,
    queue_size: int = _DEFAULTS.queue_size,
    echo: bool = False,
    **kwargs: Any,
) -> JobStream:
    """Prepare ``job(*args, **kwargs)`` to run in a worker thread; use as ``async with``."""
    return JobStream(job, *args, name=name, queue_size=queue_size, echo=echo, **kwargs)
