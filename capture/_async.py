"""Jobs written as coroutines or async generators, run in their job's thread.

A job runs in a worker thread, where nothing awaits a coroutine: an ``async def``
job would return one unawaited and its body would never run.  Here it gets an
event loop of its own in that thread, so its prints, log records and
``asyncio.to_thread`` work belong to the job like any other's.  Cancelling the
job cancels the task awaiting it (an ``await asyncio.sleep(60)`` ends at once,
not at the next print), and the job sees ``JobCancelled`` as a blocking job would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import TypeVar

from ._bridge import JobCancelled, check_cancelled, on_cancel

__all__ = ("iterate_async", "run_async")

T = TypeVar("T")


def run_async(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` on an event loop of this thread's own; cancelling the job cancels it."""
    loop = asyncio.new_event_loop()
    try:
        return _until_done(loop, awaitable)
    finally:
        _close(loop)


def iterate_async(items: AsyncIterator[T]) -> Iterator[T]:
    """The items of an async iterator (an ``async def`` generator job), one by one, in this thread."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield _until_done(loop, items.__anext__())
            except StopAsyncIteration:
                return
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            try:
                loop.run_until_complete(close())
            except (Exception, JobCancelled):  # noqa: BLE001 - the job ends anyway; its own cleanup failed
                pass
        _close(loop)


def _until_done(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[T]) -> T:
    task: asyncio.Future[T] = asyncio.ensure_future(awaitable, loop=loop)

    def cancel() -> None:  # called from the thread that cancels the job
        loop.call_soon_threadsafe(task.cancel)

    with on_cancel(cancel):
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            check_cancelled()  # cancelled because the job was: say so as every job does
            raise


def _close(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
