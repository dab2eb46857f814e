"""Requests that never finish their headers, served without a proxy: uvicorn's httptools protocol, guarded.

uvicorn (0.55) bounds neither the time a client takes to send its headers nor their size: a
slowloris client (a partial header line, then nothing) holds its connection for ever, and an
unfinished header of 150 MB is buffered whole. nginx does both in front of the service
(``client_header_timeout``, ``large_client_header_buffers``); served directly, this protocol
does them instead:

- **Header timeout.** From the moment a connection opens, and from the first byte of each
  later request on it (keep-alive), the request line and headers must be in within
  ``HEADER_TIMEOUT`` seconds; otherwise the client gets ``408 Request Timeout`` (or, while a
  response to an earlier request is under way, the connection is simply closed). The timer
  stops once the headers are in: a stream that lasts minutes is not cut.
- **Header size.** The bytes received while a request's headers are not yet complete are
  counted before they are parsed; past ``MAX_HEADER_BYTES`` the client gets ``431 Request
  Header Fields Too Large`` and nothing more is buffered.
- **The rest of an answered request's body.** Once a request is answered, what is left of its
  body must arrive within uvicorn's keep-alive time (``--timeout-keep-alive``, 5 s), counted from
  the answer: uvicorn restarts no timer for it, and stops its keep-alive timer at each byte, so a
  client trickling a body nobody reads would hold the connection for ever.
- **Lingering close.** After either answer the connection's write side is shut and what the
  client still sends is read and thrown away for ``LINGER_SECONDS`` before it is closed: a
  client still writing its headers then reads the answer instead of a connection reset.

Bodies are bounded in the app (``BODY_TIMEOUT``, ``api.bodies``), so a server started without
this protocol still refuses slow bodies.

Started with ``--http api.http_guard:GuardedHttpToolsProtocol`` (``make run``, the systemd
units, the tests' servers). uvicorn builds the protocol class itself, one instance per
connection, with no way to hand it the app's settings: so ``configure`` sets them on the class,
from the app's startup (which uvicorn runs before it accepts a connection).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ("GuardedHttpToolsProtocol", "configure")

LINGER_SECONDS = 2.0  # how long a refused client's further bytes are read and dropped before the close


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a header size limit, a bound on an answered
    request's leftover body and a lingering close."""

    # Set by ``configure`` at startup; until then (or for 0) the guard is off, as uvicorn alone is.
    header_timeout: ClassVar[float] = 0.0
    max_header_bytes: ClassVar[int] = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True  # bytes received now belong to a request line or headers
        self._header_bytes = 0
        self._headers_ended = False  # a request's headers ended during the piece being parsed
        self._lingering = False  # an answer was sent: what arrives is dropped until the close
        self._message_done = False  # the parser has seen the whole of the latest request
        self._requests_begun = 0
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        timer = self.timeout_keep_alive_task
        if timer is None or self._message_done:
            self._receive(data)
            return
        # The rest of an answered request's body: uvicorn would stop the keep-alive timer here, and
        # a trickle would hold the connection for ever. It runs on, unless a new request begins.
        self.timeout_keep_alive_task = None
        begun = self._requests_begun
        self._receive(data)
        if self._requests_begun == begun and self.timeout_keep_alive_task is None and not self._gone():
            self.timeout_keep_alive_task = timer
        else:
            timer.cancel()

    def _receive(self, data: bytes) -> None:
        while data and not self._lingering:
            limit = type(self).max_header_bytes
            if not self._awaiting_headers or not limit:
                super().data_received(data)
                return
            # Only what fits under the limit is parsed. If a request's headers end within it, the
            # rest (a body, a pipelined request) is parsed as usual, and counted afresh: a request
            # that began inside this piece is undercounted by at most the piece, so what one
            # request can make the parser hold stays under twice the limit.
            allowed = max(0, limit - self._header_bytes)
            head, data = data[:allowed], data[allowed:]
            self._header_bytes += len(head)
            self._headers_ended = False
            if head:
                super().data_received(head)
            if self._gone():
                return
            if data and self._awaiting_headers and not self._headers_ended:
                self._refuse(431, "Request Header Fields Too Large")
                return

    # -- parser callbacks ----------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._message_done = False
        self._requests_begun += 1
        self._arm_header_timer()  # a keep-alive connection's next request gets its own time

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        self._awaiting_headers = False
        self._headers_ended = True
        self._header_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting_headers = True  # what follows is the next request
        self._message_done = True
        super().on_message_complete()

    # -- the guard -----------------------------------------------------------------------------------

    def _gone(self) -> bool:
        """The connection is closing, or another protocol took it over (a WebSocket upgrade)."""
        return self.transport.is_closing() or self.transport.get_protocol() is not self

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        timeout = type(self).header_timeout
        if timeout > 0:
            self._header_timer = self.loop.call_later(timeout, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self._gone():
            self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close, lingering; while an earlier response is under way, just close."""
        self._disarm_header_timer()
        self._unset_keepalive_if_required()
        if self.cycle is not None and not self.cycle.response_complete:
            # Its response has begun (or is about to): a second status line cannot follow it.
            self.transport.close()
            return
        body = message.encode("ascii")
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(content))
        self._lingering = True
        self.flow.resume_reading()  # keep reading (and dropping) so the client is not reset
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)


def configure(header_timeout: float, max_header_bytes: int) -> None:
    """Set the guard's limits for every connection this process accepts from now on (0: that limit is off)."""
    GuardedHttpToolsProtocol.header_timeout = header_timeout
    GuardedHttpToolsProtocol.max_header_bytes = max_header_bytes
