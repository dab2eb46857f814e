"""Starting job threads without making the event loop wait.

``threading.Thread.start()`` returns only once the new thread has run, which
needs the GIL; with hundreds of job threads busy that wait blocked the event
loop for milliseconds per request (see BENCHMARKS.md).  Here the loop hands the
thread to a starter thread (a ``SimpleQueue.put``) and carries on; the starters
do the waiting.  There are a few of them because each start waits for two GIL
hand-overs: one starter alone started about 700 threads a second under load,
so the last of 1,000 simultaneous jobs began a second late.  Each job still has
its own thread, which ends with the job.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

__all__ = ("start_thread",)

logger = logging.getLogger("capture")

STARTERS = 4
_pending: queue.SimpleQueue[tuple[threading.Thread, Callable[[BaseException], None]]] = queue.SimpleQueue()
_starters: list[threading.Thread] = []
_starter_lock = threading.Lock()


def start_thread(thread: threading.Thread, on_failure: Callable[[BaseException], None]) -> None:
    """Have ``thread`` started soon; never blocks. ``on_failure`` runs if it cannot start."""
    if len(_starters) < STARTERS or not all(starter.is_alive() for starter in _starters):
        with _starter_lock:
            _starters[:] = [starter for starter in _starters if starter.is_alive()]  # none survive a fork
            while len(_starters) < STARTERS:
                starter = threading.Thread(
                    target=_start_loop, name=f"capture-thread-starter-{len(_starters) + 1}", daemon=True
                )
                starter.start()
                _starters.append(starter)
    _pending.put((thread, on_failure))


def _start_loop() -> None:
    while True:
        thread, on_failure = _pending.get()
        try:
            thread.start()
        except RuntimeError as exc:  # "can't start new thread": out of threads or memory
            logger.error("could not start %s: %s", thread.name, exc)
            try:
                on_failure(exc)
            except Exception:
                logger.exception("while reporting that %s could not start", thread.name)
