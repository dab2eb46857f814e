"""Jobs of a user's own, served through ``JOBS`` in the capture integration tests.

They write the way real agent code does: ``print``, ``sys.stderr``, ``logging``,
``warnings``, plain threads, pools, ``asyncio.to_thread``, subprocesses, progress
bars, ``redirect_stdout``.  Every line carries the job's token, so a test can tell
whose line reached which stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import capture

# As agent code often does at import time, before the server installed anything: a console
# handler on the root logger that holds the real stderr.
logging.basicConfig()
log = logging.getLogger("jobs.mixed")

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="shared-pool")  # shared by every job
_barriers: dict[str, threading.Barrier] = {}
_barriers_lock = threading.Lock()


def _barrier(token: str) -> threading.Barrier:
    with _barriers_lock:
        return _barriers.setdefault(token, threading.Barrier(2, timeout=30))


def shout(text: str) -> str:
    """Answers with the input in capitals."""
    print(f"shouting {text}")
    return text.upper()


def mixed(token: str) -> Iterator[dict[str, Any]]:
    """Writes one line each way a job can."""
    print(f"print {token}")
    sys.stderr.write(f"stderr {token}\n")
    log.warning("log %s", token)
    thread = threading.Thread(target=print, args=(f"thread {token}",))
    thread.start()
    thread.join()
    _POOL.submit(print, f"pool {token}").result()
    asyncio.run(asyncio.to_thread(print, f"to_thread {token}"))
    yield {"type": "complete", "results": {"token": token}}


def warns(token: str) -> str:
    """A warning and a colourful line."""
    warnings.warn(f"warn {token}", UserWarning, stacklevel=1)
    print(f"\x1b[1;32mgreen {token}\x1b[0m")
    return "ok"


def redirecting(token: str) -> str:
    """Collects five lines with ``redirect_stdout`` while its partner (``plain``) prints."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        _barrier(token).wait()
        for i in range(5):
            print(f"redirected {i} {token}")
        _barrier(token).wait()  # the partner has printed its lines while this one was redirected
    print(f"after {token}")
    return buffer.getvalue()


def plain(token: str) -> str:
    """Prints five lines while its partner (``redirecting``) has stdout redirected."""
    _barrier(token).wait()
    for i in range(5):
        print(f"plain {i} {token}")
    _barrier(token).wait()
    return "done"


def bar(steps: str) -> Iterator[dict[str, Any]]:
    """A tqdm-style bar on stderr: a carriage return and the new state at every step."""
    total = int(steps or "10000")
    started = time.monotonic()
    print("starting")
    for i in range(total + 1):
        percent = 100 * i // total
        sys.stderr.write(f"\r\x1b[32m{percent:3d}%|{'#' * (percent // 10):10s}| {i}/{total}\x1b[0m")
        sys.stderr.flush()
    sys.stderr.write("\n")
    print("finished")
    yield {"type": "complete", "results": {"seconds": time.monotonic() - started}}


def slow_bar(seconds: str) -> str:
    """A bar redrawn every 10 ms for ``seconds`` (1.5 by default): long enough for updates in place."""
    duration = float(seconds or "1.5")
    started = time.monotonic()
    print("starting")
    while (elapsed := time.monotonic() - started) < duration:
        percent = min(99, int(100 * elapsed / duration))
        sys.stderr.write(f"\r{percent:3d}%|{'#' * (percent // 10):10s}|")
        sys.stderr.flush()
        capture.sleep(0.01)
    sys.stderr.write("\r100%|##########|\n")
    print("finished")
    return "done"


def failing_thread(mode: str) -> str:
    """A thread that raises: unhandled (the job fails) or handled inside the thread (it does not)."""

    def work() -> None:
        try:
            raise ValueError("boom in the thread")
        except ValueError:
            if mode != "handled":
                raise
            print("handled it")

    thread = threading.Thread(target=work, name="worker")
    thread.start()
    thread.join()
    print("the main thread carries on")
    return "finished"


def child(token: str) -> str:
    """A subprocess that prints, writes to stderr, reports its pid, then waits for a minute."""
    script = (
        "import os, sys, time\n"
        f"print('child out {token}', flush=True)\n"
        f"print('child err {token}', file=sys.stderr, flush=True)\n"
        "print('pid', os.getpid(), flush=True)\n"
        "time.sleep(60 if len(sys.argv) > 1 else 0)\n"
    )
    args = [sys.executable, "-c", script]
    if token.startswith("wait"):
        args.append("wait")
    status = capture.run_process(args, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return json.dumps({"status": status})


async def awaiting(token: str) -> str:
    """An ``async def`` job: prints, hands work to a thread, and waits; ``wait …`` waits for a minute."""
    print(f"async start {token}")
    try:
        # The client may leave (and the job be cancelled) while this await is still settling
        # after its line was sent: the marker must be written then too.
        await asyncio.to_thread(print, f"async thread {token}")
        await asyncio.sleep(60 if token.startswith("wait") else 0)
    finally:
        if token.startswith("wait"):
            with open(token.split(maxsplit=1)[1], "w") as marker:  # the test waits for it
                marker.write("the wait ended")
    return f"async answer {token}"


async def async_events(token: str) -> Any:
    """An async generator job in the job protocol."""
    print(f"agen start {token}")
    await asyncio.sleep(0)
    yield {"type": "content", "content": f"agen part {token}\n"}
    yield {"type": "complete", "results": {"token": token}}


def returns_json(token: str) -> dict[str, Any]:
    """A plain function whose answer is a value, not text."""
    print(f"json {token}")
    return {"token": token, "letters": len(token)}


def not_a_number(token: str) -> dict[str, Any]:
    """An answer with a float JSON cannot hold, as a division by zero in numpy gives."""
    print(f"dividing {token}")
    return {"token": token, "ratio": float("nan"), "limit": float("inf")}


def takes_nothing() -> str:
    """Not a job: it cannot take the input text."""
    return "never"
