"""Work the server does before it listens, which a stop signal must still be able to cut short.

uvicorn only acts on SIGINT and SIGTERM once startup is over, and indexing the manual the first
time takes about a minute: without this, Ctrl-C would wait for all of it.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ("unless_stopped",)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def unless_stopped(work: Callable[[], None]) -> bool:
    """Run ``work`` in a thread, and wait for it unless the server is told to stop first: then False.

    uvicorn only acts on SIGINT and SIGTERM once startup is over, and indexing the manual the
    first time takes about a minute: Ctrl-C would wait for all of it. So a stop signal (or the
    startup being cancelled) ends the wait and leaves the work behind, in a daemon thread that
    does not hold the process at exit. What it had written is one uncommitted SQLite
    transaction, which SQLite rolls back: the next start indexes again from nothing.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    stopped = asyncio.Event()

    def settle(error: BaseException | None) -> None:
        if finished.done():  # given up on: nobody reads it
            return
        if error is None:
            finished.set_result(None)
        else:
            finished.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting task, which raises it
            error = exc
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:  # the loop is closed: the server stopped without waiting for this
            pass

    def on_signal() -> None:
        loop.call_soon_threadsafe(stopped.set)

    with _also_on_stop_signals(on_signal):
        threading.Thread(target=run, name="prepare-knowledge-base", daemon=True).start()
        stop = loop.create_task(stopped.wait())
        try:
            await asyncio.wait((finished, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not finished.done():
                finished.cancel()
    if finished.cancelled():
        return False
    finished.result()  # the work's own exception, if it raised one
    return True


@contextmanager
def _also_on_stop_signals(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` on SIGINT and SIGTERM, before the handlers already there (uvicorn's)."""
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    if threading.current_thread() is not threading.main_thread() or None in previous.values():
        # Only the main thread may set handlers; None is a handler set outside Python, which
        # could not be restored. Either way the work is waited for, as before.
        yield
        return

    def handler(sig: int, frame: FrameType | None) -> None:
        callback()
        before = previous[signal.Signals(sig)]
        if callable(before):
            before(sig, frame)
        elif before == signal.SIG_DFL:  # the default action: terminate (SIGINT's is a Python handler)
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for sig in _STOP_SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)
