"""Everything a job writes reaches its stream: threads it starts, pool work it submits, its log records.

``install()`` puts the stream proxies in place (``_proxy.py``) and, once per process,
these hooks; ``run_for``, ``bind`` and ``Thread`` attach other threads to a job.
Deliberate choices, not to be "fixed":

- **Threads.** ``threading.Thread.start`` is wrapped: a thread started from a thread
  that works for a job works for that job too (its own writers, its job's
  cancellation).  An exception that ends such a thread is reported in the job's
  stream as one line, fails the job, and its traceback goes to the server log: on
  the server console it would be a user's data in an operator's log.
- **Pools.** ``ThreadPoolExecutor.submit`` is wrapped: work submitted from a job runs
  for that job for the duration of the call, even on a pool thread shared with other
  jobs; the pool's own worker threads, started lazily inside ``submit``, belong to no
  job.  ``asyncio.to_thread`` and ``loop.run_in_executor`` go through ``submit``.
  An exception in such work stays in its future, where the job can handle it.
- **Logging.** ``logging.Logger.callHandlers`` (a documented method) is wrapped: a
  record emitted by a thread working for a job is written to that job's stderr as a
  console handler would show it (``WARNING name: message``), whatever handlers exist,
  and is kept from the handlers that write to the console (a ``StreamHandler`` on a
  standard stream), so no user's data reaches the operator's log.  Other handlers (a
  job's own ``FileHandler``) still get it.  Records of the server's own loggers
  (``SERVER_LOGGERS``) are never a job's: they are handled as if from another thread.
- **logging.basicConfig.** Called in a job (scripts start with it, often with
  ``force=True``), it would replace the server's handlers and level for every thread:
  with ``level=DEBUG``, sse-starlette logged every chunk. In a job's thread it sets
  that job's level and format only (``Logger.isEnabledFor`` is wrapped to honour the
  job's level for the job's records), never the server's; handlers, files and streams
  it names are ignored, and the job's stream says so once.
- ``warnings.warn`` writes to ``sys.stderr``, so it needs no hook.

All of this costs nothing per ``print()``: the hooks run when a thread starts, work is
submitted, or a record is logged.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from . import _proxy
from ._bridge import Bridge, JobCancelled
from ._events import error_message

__all__ = ("Thread", "bind", "install")

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("capture")

# Loggers whose records belong to the server, whichever thread emits them.
SERVER_LOGGERS = ("capture", "service", "api", "uvicorn")
_server_loggers: tuple[str, ...] = SERVER_LOGGERS  # and those install() was given

_hooks_lock = threading.Lock()
_hooked = False
_capture_stderr = True
_format = logging.Formatter("%(levelname)s %(name)s: %(message)s")
_original_start = threading.Thread.start
_original_submit = concurrent.futures.ThreadPoolExecutor.submit
_original_call_handlers = logging.Logger.callHandlers
_original_basic_config = logging.basicConfig
_original_is_enabled_for = logging.Logger.isEnabledFor
_no_inherit = threading.local()  # set while a pool starts its worker threads


def install(*, stderr: bool | None = None, server_loggers: Iterable[str] = ()) -> _proxy.StdoutProxy:
    """Route every job's output to its stream: the stream proxies, and the hooks (once).

    Idempotent and cheap; the bridge calls it before every job.  ``stderr=False`` leaves
    ``sys.stderr`` alone from then on (job output written there reaches the console);
    ``None`` keeps the earlier choice (capture it, by default).  ``server_loggers`` adds
    to ``SERVER_LOGGERS`` the loggers (and their children) whose records are the
    operator's even when a job's thread emits them: what a library the server runs in
    jobs tells the operator (an upstream's address, say) is not for the job's client.
    """
    global _hooked, _capture_stderr, _server_loggers
    if stderr is not None:
        _capture_stderr = stderr
    added = tuple(name for name in server_loggers if name not in _server_loggers)
    if added:
        _server_loggers = _server_loggers + added
    proxy = _proxy.install_streams(stderr=_capture_stderr)
    if not _hooked:
        with _hooks_lock:
            if not _hooked:
                threading.Thread.start = _start  # type: ignore[method-assign]
                concurrent.futures.ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign,assignment]
                logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]
                logging.Logger.isEnabledFor = _is_enabled_for  # type: ignore[method-assign]
                logging.basicConfig = _basic_config
                _hooked = True
    return proxy


# -- work in other threads ------------------------------------------------------------------


def run_for(bridge: Bridge, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``fn`` in the calling thread as work of ``bridge``'s job: its output and cancellation are the job's."""
    attachment = _proxy.attach(bridge)
    try:
        result = fn(*args, **kwargs)
    except BaseException:
        try:
            attachment.close()  # what it printed before it failed still belongs to the job
        except JobCancelled:
            pass
        raise
    attachment.close()
    return result


def bind(fn: Callable[P, R]) -> Callable[P, R]:
    """Make ``fn`` run for the calling thread's job, whichever thread runs it.

    Threads a job starts and work it submits to a ``ThreadPoolExecutor`` belong to it
    already; ``bind`` is for handing work to threads it did not start, such as a
    long-lived worker fed through a queue.  Called outside a job, returns ``fn`` unchanged.
    """
    bridge = _proxy.current_bridge()
    if bridge is None:
        return fn

    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_for(bridge, fn, *args, **kwargs)

    bound.__wrapped__ = fn  # type: ignore[attr-defined]
    return bound


class Thread(threading.Thread):
    """A ``threading.Thread`` that belongs to the job that *created* it, wherever it is started.

    Plain threads belong to the job whose thread *starts* them; this class is for the
    rarer case of a thread created for a job and started elsewhere.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capture_bridge: Bridge | None = _proxy.current_bridge()


# -- threads ------------------------------------------------------------------------------


def _start(self: threading.Thread) -> None:
    bridge = self.capture_bridge if isinstance(self, Thread) else _proxy.current_bridge()
    if bridge is None or getattr(_no_inherit, "active", False) or "run" in self.__dict__:
        _original_start(self)
        return
    self.run = functools.partial(_run_for_job, self, bridge, self.run)  # type: ignore[method-assign]
    bridge.thread_started()
    try:
        _original_start(self)
    except BaseException:
        bridge.thread_ended()
        raise


def _run_for_job(thread: threading.Thread, bridge: Bridge, run: Callable[[], None]) -> None:
    """A job's thread: its output is the job's; an exception that ends it fails the job."""
    attached = _proxy.attach(bridge)
    try:
        try:
            run()
        except JobCancelled:
            # The job is over (it ended, or was stopped): so is its thread, at its next print or
            # wait. Said once in the server log, so that output it would have written is not lost unseen.
            with _proxy.suspended():
                logger.info("job %s: its thread %s was stopped at the job's end", bridge.name, thread.name)
            return
        except BaseException as exc:  # noqa: BLE001 - reported in the job's stream, and logged
            _thread_failed(thread, attached, exc)
            return  # reported: not for the server console's excepthook
        try:
            attached.close()
        except JobCancelled:
            pass
    finally:
        attached.detach()
        bridge.thread_ended()


def _thread_failed(thread: threading.Thread, attached: _proxy.Attachment, exc: BaseException) -> None:
    message = f"Exception in thread {thread.name}: {error_message(exc)}"
    try:
        attached.flush()
        attached.err.write(message + "\n")
        attached.close()
    except JobCancelled:
        pass
    attached.bridge.thread_failed(message)
    with _proxy.suspended():
        logger.error("job %s: thread %s failed", attached.bridge.name, thread.name, exc_info=exc)


# -- pools --------------------------------------------------------------------------------


def _submit(
    self: concurrent.futures.ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> concurrent.futures.Future[Any]:
    bridge = _proxy.current_bridge()
    if bridge is None:
        return _original_submit(self, fn, *args, **kwargs)
    _no_inherit.active = True  # the pool's worker threads serve every job, not this one
    try:
        return _original_submit(self, functools.partial(run_for, bridge, fn), *args, **kwargs)
    finally:
        _no_inherit.active = False


# -- logging ------------------------------------------------------------------------------


def _call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    bridge = _proxy.current_bridge()
    if bridge is None:
        _original_call_handlers(self, record)
        return
    if _is_server_logger(record.name):
        with _proxy.suspended():  # the server's own record: its handlers write to the real console
            _original_call_handlers(self, record)
        return
    text = (bridge.log_format or _format).format(record)
    if _capture_stderr:
        sys.stderr.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    # The logging module's own walk up the hierarchy, minus the console handlers.
    logger_: logging.Logger | None = self
    while logger_ is not None:
        for handler in logger_.handlers:
            if record.levelno >= handler.level and not _writes_to_console(handler):
                handler.handle(record)
        logger_ = logger_.parent if logger_.propagate else None


def _writes_to_console(handler: logging.Handler) -> bool:
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    stream = handler.stream
    return stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) or isinstance(
        stream, _proxy.StreamProxy
    ) or getattr(stream, "name", None) in ("<stdout>", "<stderr>")


def _is_server_logger(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in _server_loggers)


def _is_enabled_for(self: logging.Logger, level: int) -> bool:
    bridge = _proxy.current_bridge()
    if bridge is None or bridge.log_level is None or _is_server_logger(self.name):
        return _original_is_enabled_for(self, level)
    return level >= bridge.log_level and not self.manager.disable >= level


def _basic_config(**kwargs: Any) -> None:
    """``logging.basicConfig`` in a job's thread: that job's records only (see the module docstring)."""
    bridge = _proxy.current_bridge()
    if bridge is None:
        _original_basic_config(**kwargs)
        return
    level = kwargs.get("level")
    if level is not None:
        bridge.log_level = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
        if not isinstance(bridge.log_level, int):
            bridge.log_level = None
            raise ValueError(f"Unknown level: {level!r}")
    if "format" in kwargs or "datefmt" in kwargs:
        bridge.log_format = logging.Formatter(kwargs.get("format"), kwargs.get("datefmt"), kwargs.get("style", "%"))
    ignored = sorted(set(kwargs) & {"filename", "filemode", "handlers", "stream", "force"})
    note = f" ({', '.join(ignored)} ignored)" if ignored else ""
    sys.stderr.write(f"logging.basicConfig() in a job sets this job's own log level and format{note}; "
                     "the server's logging is unchanged\n")
