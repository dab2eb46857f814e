"""Starting job threads without making the event loop wait.

``threading.Thread.start()`` returns only once the new thread has run, which
needs the GIL; with hundreds of job threads busy that wait blocked the event
loop for milliseconds per request (see BENCHMARKS.md).  Here the loop hands the
thread to a starter thread (a ``SimpleQueue.put``) and carries on; the starter
does the waiting.  Each job still has its own thread, which ends with the job.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

__all__ = ("start_thread",)

logger = logging.getLogger("capture")

_pending: queue.SimpleQueue[tuple[threading.Thread, Callable[[BaseException], None]]] = queue.SimpleQueue()
_starter: threading.Thread | None = None
_starter_lock = threading.Lock()


def start_thread(thread: threading.Thread, on_failure: Callable[[BaseException], None]) -> None:
    """Have ``thread`` started soon; never blocks. ``on_failure`` runs if it cannot start."""
    global _starter
    if _starter is None or not _starter.is_alive():
        with _starter_lock:
            if _starter is None or not _starter.is_alive():
                _starter = threading.Thread(target=_start_loop, name="capture-thread-starter", daemon=True)
                _starter.start()
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
