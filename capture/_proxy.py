"""The thread-local stdout and stderr proxies, and what a thread working for a job holds: the first hop of a print.

``sys.stdout`` is process-wide, so swapping it per request (as the design this
service replaces did) mixes and loses lines as soon as two jobs overlap.  Instead
one proxy is installed on ``sys.stdout`` (and one on ``sys.stderr``) and decides
*per write* where the text goes: a thread that works for a job is *attached* to it
(an ``Attachment``: the job's bridge and the thread's own two ``LineWriter``, see
``_lines.py``), kept in a ``threading.local``; every other thread's writes pass
through to the stream the proxy wraps.

Redirection inside a job (``contextlib.redirect_stdout``, ``redirect_stderr``, or a
plain ``sys.stdout = buf``) would swap the process-wide attribute and capture every
other job's output with it.  So the ``sys`` module gets a subclass of ``ModuleType``
as its class (the documented way to customise a module's attribute access) whose
``__setattr__`` turns an assignment made *by a thread working for a job* into a
redirect of that thread only; the process-wide attribute keeps the proxy.  Such
redirects nest as a stack: assigning a proxy back (what ``redirect_stdout`` does on
exit, since it read the proxy on entry) ends the innermost one, and assigning
``sys.__stdout__`` (the usual "back to the console") ends them all.  Known limits:
reading ``sys.stdout`` in a redirecting thread gives the proxy, not the object
assigned (attribute access such as ``sys.stdout.getvalue()`` is forwarded to it);
a redirect covers the thread that made it, not the job's other threads.  Assignments
by threads that work for no job (a test runner's capture) replace the attribute as
usual, and ``install()`` wraps the new stream again before the next job.

The thread-local state is module-level, not per proxy, so stacking proxies (pytest
replaces ``sys.stdout`` per test and ``install()`` wraps whatever is there) still
routes a job thread's writes to its job.
"""

from __future__ import annotations

import codecs
import io
import sys
import threading
import types
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

from ._lines import LineWriter

if TYPE_CHECKING:
    from ._bridge import Bridge

__all__ = (
    "Attachment",
    "StdoutProxy",
    "StreamProxy",
    "attach",
    "current_attachment",
    "current_bridge",
    "install_streams",
    "suspended",
)


class LineSink(Protocol):
    """Where a job thread's writes go: its ``LineWriter``, or what it redirected the stream to."""

    def write(self, text: str) -> int: ...

    def flush(self) -> None: ...


# Per thread: "out" and "err" (where its writes go now: its writers, or a redirect), "attachment"
# (the job it works for) and "out_redirects", "err_redirects" (the redirects under the current ones).
_local = threading.local()
_install_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class _ThreadState:
    """What a thread held before it was attached, put back when it is detached."""

    attachment: Attachment | None
    out: LineSink | None
    err: LineSink | None
    out_redirects: list[LineSink] | None
    err_redirects: list[LineSink] | None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A thread working for a job: the job's bridge and the thread's own stdout and stderr writers."""

    bridge: Bridge
    out: LineWriter
    err: LineWriter
    previous: _ThreadState

    def flush(self) -> None:
        self.out.flush()
        self.err.flush()

    def finish(self) -> None:
        """Send what is left, an updating line's last state too (raises ``JobCancelled`` if the job is over)."""
        self.err.close()
        self.out.close()

    def close(self) -> None:
        """``finish``, and the thread gets back what it held before."""
        try:
            self.finish()
        finally:
            self.detach()

    def detach(self) -> None:
        """The thread gets back what it held before (any redirect the work left behind ends), nothing is sent."""
        previous = self.previous
        _local.attachment = previous.attachment
        _local.out, _local.err = previous.out, previous.err
        _local.out_redirects, _local.err_redirects = previous.out_redirects, previous.err_redirects


def attach(bridge: Bridge) -> Attachment:
    """Make the calling thread work for ``bridge``'s job, with writers of its own; ``detach()`` undoes it."""
    previous = _ThreadState(
        getattr(_local, "attachment", None),
        getattr(_local, "out", None),
        getattr(_local, "err", None),
        getattr(_local, "out_redirects", None),
        getattr(_local, "err_redirects", None),
    )
    attachment = Attachment(bridge, LineWriter(bridge), LineWriter(bridge), previous)
    _local.attachment = attachment
    _local.out, _local.err = attachment.out, attachment.err
    _local.out_redirects = _local.err_redirects = None
    return attachment


def current_attachment() -> Attachment | None:
    """What the calling thread works for, or None."""
    return getattr(_local, "attachment", None)


def current_bridge() -> Bridge | None:
    """The bridge of the job the calling thread works for, or None."""
    attachment: Attachment | None = getattr(_local, "attachment", None)
    return attachment.bridge if attachment is not None else None


@contextmanager
def suspended() -> Iterator[None]:
    """While inside, the calling thread's writes go to the real streams (the server's own output)."""
    saved = (getattr(_local, "out", None), getattr(_local, "err", None), getattr(_local, "attachment", None))
    _local.out = _local.err = _local.attachment = None
    try:
        yield
    finally:
        _local.out, _local.err, _local.attachment = saved


class StreamProxy(io.TextIOBase):
    """A text stream that sends job threads' writes to their sink, others' to ``target``."""

    _attr = "out"

    def __init__(self, target: IO[str]) -> None:
        super().__init__()
        self.target = target

    def write(self, text: str) -> int:
        # The hot path of every print(): one thread-local lookup (the stderr proxy has its own copy).
        sink: LineSink | None = getattr(_local, "out", None)
        if sink is not None:
            return sink.write(text)
        return self.target.write(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        sink: LineSink | None = getattr(_local, self._attr, None)
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
        # A job's output goes to a client, not a terminal: progress bars and colour libraries
        # asking this should not draw for one.
        if getattr(_local, self._attr, None) is not None:
            return False
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def buffer(self) -> Any:
        """Bytes written here by a job's thread (``sys.stdout.buffer.write``) are its output too."""
        sink = getattr(_local, self._attr, None)
        if sink is None:
            return getattr(self.target, "buffer")  # noqa: B009 - IO[str] is not typed with one
        cached: _SinkBuffer | None = getattr(_local, f"{self._attr}_buffer", None)
        if cached is None or cached.sink is not sink:
            cached = _SinkBuffer(sink, self.encoding)
            setattr(_local, f"{self._attr}_buffer", cached)
        return cached

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        # In a thread that redirected this stream (``sys.stdout = buf``), ``sys.stdout.getvalue()``
        # means the buffer's.
        sink = getattr(_local, self._attr, None)
        if sink is not None and hasattr(sink, name):
            return getattr(sink, name)
        return getattr(self.target, name)


class _SinkBuffer(io.RawIOBase):
    """The binary face of a job thread's sink: bytes decoded (incrementally) and written as text."""

    def __init__(self, sink: LineSink, encoding: str) -> None:
        super().__init__()
        self.sink = sink
        self._decoder = codecs.getincrementaldecoder(encoding)("replace")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raw = bytes(data)
        text = self._decoder.decode(raw)
        if text:
            self.sink.write(text)
        return len(raw)

    def flush(self) -> None:
        self.sink.flush()


class StdoutProxy(StreamProxy):
    """The proxy on ``sys.stdout``."""


class StderrProxy(StreamProxy):
    """The proxy on ``sys.stderr``."""

    _attr = "err"

    def write(self, text: str) -> int:
        sink: LineSink | None = getattr(_local, "err", None)
        if sink is not None:
            return sink.write(text)
        return self.target.write(text)


# The descriptor that gives a module its own namespace (typed as Any: typeshed has no type for it).
_module_dict: Any = vars(types.ModuleType)["__dict__"]


class _GuardedSysDict(MutableMapping[str, Any]):
    """``vars(sys)`` as a job's thread sees it: writing ``stdout``/``stderr`` redirects that thread only.

    ``print()`` reads ``sys.stdout`` from this namespace directly, so a job that wrote
    ``vars(sys)["stdout"] = buf`` would otherwise take every other job's output.
    """

    __slots__ = ("_real",)

    def __init__(self, real: dict[str, Any]) -> None:
        self._real = real

    def __getitem__(self, key: str) -> Any:
        return self._real[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in ("stdout", "stderr") and isinstance(self._real.get(key), StreamProxy):
            _redirect("out" if key == "stdout" else "err", value, self._real.get(f"__{key}__"))
            return
        self._real[key] = value

    def __delitem__(self, key: str) -> None:
        if key in ("stdout", "stderr"):
            return  # the proxy stays: for this thread, deleting it would lose its output
        del self._real[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._real)

    def __len__(self) -> int:
        return len(self._real)


class _SysModule(types.ModuleType):
    """``sys``'s class once installed: a job thread's ``sys.stdout = x`` redirects that thread only,
    whether written as an attribute or into ``vars(sys)``.

    importlib makes every new module with ``type(sys)(name)``, so modules imported afterwards
    are of this class too: for them (``self is not sys``) it behaves exactly as ``ModuleType``.
    """

    @property
    def __dict__(self) -> Any:  # type: ignore[override]
        real: dict[str, Any] = _module_dict.__get__(self)
        if self is not sys or getattr(_local, "attachment", None) is None:
            return real  # other modules, and the server's threads, see their namespace as it is
        return _GuardedSysDict(real)

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            (name == "stdout" or name == "stderr")
            and self is sys
            and getattr(_local, "attachment", None) is not None
            and isinstance(self.__dict__.get(name), StreamProxy)
        ):
            _redirect("out" if name == "stdout" else "err", value, getattr(sys, f"__{name}__"))
            return
        super().__setattr__(name, value)


def _redirect(attr: str, value: Any, console: Any) -> None:
    stack_attr = f"{attr}_redirects"
    stack: list[Any] | None = getattr(_local, stack_attr, None)
    if isinstance(value, StreamProxy) or value is console:
        if stack:
            # A proxy back: the innermost redirect ends. The console: all of them do.
            setattr(_local, attr, stack.pop() if value is not console else stack[0])
            if value is console:
                stack.clear()
        return
    if stack is None:
        stack = []
        setattr(_local, stack_attr, stack)
    stack.append(getattr(_local, attr, None))
    setattr(_local, attr, value)


def install_streams(stderr: bool) -> StdoutProxy:
    """Put proxies on ``sys.stdout`` (and ``sys.stderr`` when asked) unless already there.

    Idempotent and cheap, so the bridge calls it before every job: if something
    replaced ``sys.stdout`` since (a test runner's capture, a logging setup), the
    new stream gets wrapped and job output still never reaches it.
    """
    with _install_lock:
        if type(sys) is types.ModuleType:
            sys.__class__ = _SysModule
        current = sys.stdout
        if isinstance(current, StdoutProxy):
            proxy = current
        else:
            proxy = StdoutProxy(current)
            sys.stdout = proxy
        if stderr and sys.stderr is not None and not isinstance(sys.stderr, StderrProxy):
            sys.stderr = StderrProxy(sys.stderr)
        return proxy
