"""The thread-local stdout proxy.

``sys.stdout`` is process-wide, so swapping it per request (as the design this
service replaces did) mixes and loses lines as soon as two jobs overlap.  Instead
one proxy is installed on ``sys.stdout`` and decides *per write* where the text
goes: a thread that runs a job has a sink registered in a ``threading.local``;
every other thread's writes pass through to the stream the proxy wraps.

The sink registry is module-level, not per proxy, so stacking proxies (pytest
replaces ``sys.stdout`` per test and ``install()`` wraps whatever is there) still
routes a job thread's writes to its job.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterable
from typing import IO, Any, Protocol

__all__ = ("LineSink", "StdoutProxy", "current_sink", "install", "set_sink")


class LineSink(Protocol):
    """Where a job thread's writes go."""

    def write(self, text: str) -> int: ...

    def flush(self) -> None: ...


_local = threading.local()
_install_lock = threading.Lock()


def current_sink() -> LineSink | None:
    """The sink of the calling thread, or None when it runs no job."""
    return getattr(_local, "sink", None)


def set_sink(sink: LineSink | None) -> LineSink | None:
    """Route the calling thread's stdout writes to ``sink``; return the previous one."""
    previous: LineSink | None = getattr(_local, "sink", None)
    _local.sink = sink
    return previous


class StdoutProxy(io.TextIOBase):
    """A text stream that sends job threads' writes to their sink, others' to ``target``."""

    def __init__(self, target: IO[str]) -> None:
        super().__init__()
        self.target = target

    def write(self, text: str) -> int:
        sink: LineSink | None = getattr(_local, "sink", None)
        if sink is not None:
            return sink.write(text)
        return self.target.write(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        sink: LineSink | None = getattr(_local, "sink", None)
        if sink is not None:
            sink.flush()
        else:
            self.target.flush()

    # The rest of the text-stream surface belongs to the wrapped stream, so that
    # code asking for ``sys.stdout.encoding`` or ``fileno()`` keeps working.
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.target, "errors", None)

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def install() -> StdoutProxy:
    """Put a proxy on ``sys.stdout`` unless one is already there; return it.

    Idempotent and cheap, so the bridge calls it before every job: if something
    replaced ``sys.stdout`` since (a test runner's capture, a logging setup), the
    new stream gets wrapped and job output still never reaches it.
    """
    with _install_lock:
        current = sys.stdout
        if isinstance(current, StdoutProxy):
            return current
        proxy = StdoutProxy(current)
        sys.stdout = proxy
        return proxy
