"""A job's worker thread: it calls the job, and what the job yields and returns become events on its bridge.

Not a hop of a print (a print goes ``_proxy → _lines → _bridge`` from wherever the
job's code runs); this is where that code runs.  The thread is attached to the
job's bridge for its whole life, so the job's prints are the job's; each yield of a
generator job is a flush point and a cancellation point; the job's end is one
terminal event (``Complete``, or ``Error`` with a short message while the traceback
goes to the server log), none when the job was cancelled (its reader is gone).

Used directly, ``run_job`` reads one job without a registry::

    async with run_job(job, *args) as events:   # the thread is started
        async for event in events: ...          # Progress/Content..., then Complete|Error
    # leaving the block (normally, by break, by cancellation) closes the bridge: the job's
    # next print/yield/capture.sleep raises JobCancelled and its thread ends on its own.
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

from . import _proxy
from ._bridge import Bridge, JobCancelled
from ._events import Complete, Content, Error, Event, Progress, error_message
from ._hooks import install
from ._limits import Limits
from ._threads import start_thread

__all__ = ("Worker", "run_job")

logger = logging.getLogger("capture")

_DEFAULTS = Limits()
_ids = itertools.count(1)


class Worker:
    """The thread that runs one job for its bridge; as ``async with``, the bridge to read."""

    __slots__ = ("_args", "_job", "_kwargs", "_returned_future", "bridge", "returned", "thread")

    def __init__(self, bridge: Bridge, job: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.bridge = bridge
        self._job = job
        self._args = args
        self._kwargs = kwargs
        self.thread: threading.Thread | None = None
        self.returned = False  # its thread, and every thread the job started, have returned
        self._returned_future: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Start the thread (soon, without making the event loop wait). Call from the bridge's event loop."""
        if self.thread is not None:
            raise RuntimeError("job already started")
        install()
        loop = asyncio.get_running_loop()
        self._returned_future = loop.create_future()
        self.thread = threading.Thread(target=self._work, args=(loop,), name=f"capture:{self.bridge.name}", daemon=True)
        start_thread(self.thread, functools.partial(self._start_failed, loop))

    async def wait_returned(self) -> None:
        """Wait until its thread and the job's threads have returned (wrap in a timeout where it matters)."""
        if self._returned_future is None or self.returned:
            return
        await asyncio.shield(self._returned_future)

    async def __aenter__(self) -> Bridge:
        self.start()
        return self.bridge

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.bridge.aclose()

    # -- in the thread ---------------------------------------------------------------------

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        """The job's life in its thread."""
        bridge = self.bridge
        attachment = _proxy.attach(bridge)
        try:
            terminal = self._run(attachment)
            if terminal is not None:
                try:
                    bridge.put(terminal)
                except JobCancelled:
                    pass
        finally:
            attachment.detach()
            bridge.when_threads_end(functools.partial(self._mark_returned, loop))

    def _start_failed(self, loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
        """The thread could not start: the reader gets an error instead of waiting for ever."""
        try:
            self.bridge.put(Error("the server could not start this job; try again later", kind="overloaded"))
        except JobCancelled:
            pass
        self._mark_returned(loop)

    def _mark_returned(self, loop: asyncio.AbstractEventLoop) -> None:
        self.returned = True
        try:
            loop.call_soon_threadsafe(self._set_returned)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _set_returned(self) -> None:
        if self._returned_future is not None and not self._returned_future.done():
            self._returned_future.set_result(None)

    def _run(self, attachment: _proxy.Attachment) -> Event | None:
        """Run the job to its end; return the terminal event (None when cancelled)."""
        bridge = self.bridge
        result: Any = None
        try:
            result = self._job(*self._args, **self._kwargs)
            if isinstance(result, Iterator):
                terminal = self._drain(result, attachment)
                if terminal is not None:
                    return terminal
                result = None
            attachment.finish()
            if bridge.thread_failure is not None:  # one of its threads failed, and nobody handled it
                return Error(bridge.thread_failure)
            return Complete(_as_results(result))
        except JobCancelled:
            return None
        except BaseException as exc:
            if bridge.cancelled:
                return None
            with _proxy.suspended():  # the traceback is the server's, not the job's
                logger.error("job %s failed", bridge.name, exc_info=exc)
            try:
                attachment.finish()
            except JobCancelled:
                return None
            return Error(error_message(exc))
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
                    logger.exception("job %s failed while closing", bridge.name)

    def _drain(self, items: Iterator[Any], attachment: _proxy.Attachment) -> Event | None:
        """Forward what a generator job yields; return its terminal event if it sent one."""
        bridge = self.bridge
        for item in items:
            # A yield is a flush point and a cancellation point.
            attachment.flush()
            bridge.check()
            event = _to_event(item)
            if isinstance(event, (Complete, Error)):
                attachment.finish()
                if isinstance(event, Complete) and bridge.thread_failure is not None:
                    return Error(bridge.thread_failure)
                return event
            bridge.put(event)
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
    max_event_chars: int = _DEFAULTS.max_event_chars,
    echo: bool = False,
    **kwargs: Any,
) -> Worker:
    """``job(*args, **kwargs)`` ready to run in a thread of its own; ``async with`` it to read its bridge.

    Call it on the event loop that will read.
    """
    bridge = Bridge(name or f"job-{next(_ids)}", queue_size=queue_size, max_event_chars=max_event_chars, echo=echo)
    return Worker(bridge, job, *args, **kwargs)
