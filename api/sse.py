"""sse-starlette's ``EventSourceResponse``, with a send timeout that costs nothing per event.

sse-starlette bounds every send with its own ``anyio.move_on_after``: a cancel
scope, a timer and two context switches into anyio for each event.  At a
thousand streams that was a tenth of the event loop's time (see BENCHMARKS.md).
Here a send only records when it began; one ``SendWatchdog`` per application
looks at the open streams a few times per timeout and cancels a stream whose
send has waited longer than ``send_timeout``.  Framing, heartbeat pings,
disconnect and shutdown handling stay sse-starlette's own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.types import Message, Receive, Scope, Send

from .observability import Metrics, logfmt
from .transport import abort_connection

__all__ = ("EventStream", "SendWatchdog")

logger = logging.getLogger("service")


class SendWatchdog:
    """Cancels streams whose client stopped reading: one timer for all of them."""

    def __init__(self) -> None:
        self._streams: set[EventStream] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, stream: EventStream) -> None:
        self._streams.add(stream)
        if self._timer is None:
            self._arm(stream.send_timeout)

    def forget(self, stream: EventStream) -> None:
        self._streams.discard(stream)

    def _arm(self, send_timeout: float | None) -> None:
        # Checking four times per timeout cuts a stalled client between 1 and 1.25 timeouts.
        interval = min(1.0, (send_timeout or 4.0) / 4)
        self._timer = asyncio.get_running_loop().call_later(interval, self._check)

    def _check(self) -> None:
        self._timer = None
        if not self._streams:
            return  # re-armed by the next stream
        now = time.monotonic()
        shortest: float | None = None
        for stream in self._streams:
            timeout = stream.send_timeout
            if timeout is None:
                continue
            shortest = timeout if shortest is None else min(shortest, timeout)
            since = stream.sending_since
            if since is not None and now - since > timeout:
                stream.time_out()
        self._arm(shortest)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class EventStream(EventSourceResponse):
    """An event stream response; a client that stops reading is closed with one log line."""

    def __init__(self, *args: Any, metrics: Metrics, watchdog: SendWatchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # sse-starlette adds "Connection: keep-alive": a hop-by-hop header that is the server's
        # to send (uvicorn already says "close" to an HTTP/1.0 client, which then got both,
        # and HTTP/2 forbids it). Keep-alive is HTTP/1.1's default anyway.
        self.raw_headers = [(name, value) for name, value in self.raw_headers if name != b"connection"]
        self._metrics = metrics
        self._watchdog = watchdog
        self._scope: anyio.CancelScope | None = None
        self.sending_since: float | None = None
        self.timed_out = False

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        self.sending_since = time.monotonic()
        try:
            await send(message)
        finally:
            self.sending_since = None

    def time_out(self) -> None:
        """Called by the watchdog: end this stream as sse-starlette ends one whose send timed out."""
        if self._scope is not None and not self.timed_out:
            self.timed_out = True
            self._scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.send_timeout is None:
            await super().__call__(scope, receive, send)
            return
        # Cancelling this scope stops all of the response's tasks; the body generator is
        # closed, so its job is cancelled (or left to its grace period when resumable).
        with anyio.CancelScope() as self._scope:
            self._watchdog.watch(self)
            try:
                await super().__call__(scope, receive, send)
            except SendTimeoutError:
                self.timed_out = True
            finally:
                self._watchdog.forget(self)
        if self.timed_out:
            await abort_connection(scope)
            self._metrics.errors.labels("slow_client").inc()
            logger.warning(logfmt(event="slow_client", path=scope["path"], send_timeout_s=self.send_timeout))
