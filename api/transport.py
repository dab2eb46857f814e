"""The connection under a response: bounded send buffers, and HTTP/1.0 framing.

Two things the ASGI interface cannot say, done here for uvicorn's httptools
protocol (the one ``make run`` uses), in one pure ASGI middleware that
``Application`` puts outside everything else (it needs the server's own ``send``,
which Starlette's error handling wraps):

- **Send buffers.** A stream's send waits only once the bytes ahead of it fill
  the transport's buffer (64 KiB) and the kernel's socket send buffer, which Linux
  grows to 4 MiB for a fast connection: a client that stopped reading was cut
  after ``SEND_TIMEOUT`` only once megabytes (minutes of a job's output) had
  piled up, its job thread held all that time.  Each connection's send buffer is
  set to ``SEND_BUFFER_BYTES`` (the kernel doubles it for its bookkeeping), so
  ``SEND_TIMEOUT`` counts from the moment about 320 KiB wait for the client.  Smaller
  buffers cost a fast client throughput (64 KiB in the socket: 0.8× the lines per second
  of one stream in ``make bench``; 256 KiB: as many as the kernel's own tuning).
- **HTTP/1.0.** uvicorn's httptools protocol frames every response without a
  ``Content-Length`` as chunked, which HTTP/1.0 clients do not know; h11 gets
  this right.  For an HTTP/1.0 request, the response is sent as HTTP/1.0
  expects: no chunked encoding, ``Connection: close``, the body ending where
  the connection does.

No public hook exists for either (uvicorn does not put its transport in the
scope), so both read the request cycle behind uvicorn's ``send``: its
``transport`` (a public asyncio transport, then ``get_extra_info("socket")``),
and for HTTP/1.0 its framing state, ``chunked_encoding`` and
``expected_content_length``.  Where these are not found (another server, the h11
protocol, a test client) nothing is changed; ``tests/integration/test_slow_clients.py``
and ``tests/integration/test_wire.py`` (HTTP/1.0) fail if uvicorn renames them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ("Application", "abort_connection")

logger = logging.getLogger("service")

SEND_BUFFER_BYTES = 128 * 1024  # the kernel doubles it: 256 KiB in the socket, plus 64 KiB in the transport
_ABORT = "course_stream.abort"  # a scope extension: drops the connection at once


def _cycle(send: Send) -> Any:
    """uvicorn's request cycle behind ``send``, if ``send`` is its bound method."""
    return getattr(send, "__self__", None)


def _limit_send_buffer(cycle: Any) -> None:
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) > 2 * SEND_BUFFER_BYTES:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    except OSError:  # a closed or unusual socket: its buffers stay as they are
        pass


class ConnectionTuning:
    """Bounded send buffers for every connection; HTTP/1.0 framing for HTTP/1.0 clients."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cycle = _cycle(send)
        if cycle is not None:
            _limit_send_buffer(cycle)
            transport = getattr(cycle, "transport", None)
            if transport is not None:
                scope = {**scope, "extensions": {**(scope.get("extensions") or {}), _ABORT: transport.abort}}
        if scope.get("http_version") != "1.0" or not hasattr(cycle, "chunked_encoding"):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _http10_send(cycle, send))


async def abort_connection(scope: Scope) -> None:
    """Drop a stalled client's connection at once, so that the server knows it is gone.

    A stream cut because its client stopped reading ends without its last chunk: uvicorn
    would log "ASGI callable returned without completing response" as an error of the
    application's, for what is the client's doing (logged once, as ``slow_client``).
    """
    abort = (scope.get("extensions") or {}).get(_ABORT)
    if abort is not None:
        abort()
        await asyncio.sleep(0)  # the protocol learns of it before the response returns


def _http10_send(cycle: Any, send: Send) -> Send:
    """``send`` for an HTTP/1.0 client: a body of unknown length is not chunked but ends with
    the connection (uvicorn closes it after the response, as HTTP/1.0 has no keep-alive here)."""
    unframed = False

    async def send_http10(message: Message) -> None:
        nonlocal unframed
        if message["type"] == "http.response.start":
            headers = [(name, value) for name, value in message.get("headers", []) if name.lower() != b"connection"]
            message["headers"] = headers
            if not any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers):
                status = message["status"]
                if status not in (204, 304) and 200 <= status:
                    unframed = True
                    # Tell uvicorn the body is not chunked, and how long it is: as long as it
                    # turns out to be (set again before its last part, below).
                    cycle.chunked_encoding = False
                    cycle.expected_content_length = sys.maxsize
                    cycle.keep_alive = False
        elif message["type"] == "http.response.body" and unframed and not message.get("more_body", False):
            cycle.expected_content_length = len(message.get("body", b""))
        await send(message)

    return send_http10


class Application(Starlette):
    """Starlette, with ``ConnectionTuning`` around its whole middleware stack."""

    def build_middleware_stack(self) -> ASGIApp:
        return ConnectionTuning(super().build_middleware_stack())
