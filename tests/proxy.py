"""A TCP proxy that cuts connections on demand: how tests make a stream drop for real.

It runs its own event loop in a thread, so sync tests (Playwright) and async
tests can use it alike.  ``cut_after`` lists byte budgets: the first connection
is aborted once that many response bytes went through (landing mid-event,
mid-line), the second after the next budget, and so on; connections after the
last budget pass untouched.  ``drop_all`` aborts every open connection now.  Aborting sends a reset, as a crashed proxy
or a recycled load-balancer connection would.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Self

from tests.server import free_port

# A connection's reading and writing halves, as asyncio.open_connection gives them.
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class CuttingProxy:
    def __init__(self, upstream_port: int, cut_after: list[int] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._budgets = list(cut_after or [])
        self.cuts = 0
        self._upstream_port = upstream_port
        self._loop = asyncio.new_event_loop()
        self._transports: set[asyncio.WriteTransport] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cutting-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        except OSError:
            client_writer.transport.abort()
            return
        transports: set[asyncio.WriteTransport] = {client_writer.transport, upstream_writer.transport}
        self._transports |= transports
        try:
            await self._relay((client_reader, client_writer), (upstream_reader, upstream_writer), transports)
        finally:
            self._transports -= transports

    async def _relay(self, client: Streams, upstream: Streams, transports: set[asyncio.WriteTransport]) -> None:
        """Both directions of one connection; the response is cut after this connection's budget."""
        client_reader, client_writer = client
        upstream_reader, upstream_writer = upstream

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, budget: int | None) -> None:
            sent = 0
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    if budget is not None and sent + len(data) >= budget:
                        writer.write(data[: budget - sent])
                        await writer.drain()
                        self.cuts += 1
                        for transport in transports:
                            transport.abort()
                        return
                    sent += len(data)
                    writer.write(data)
                    await writer.drain()
            with contextlib.suppress(OSError):
                writer.close()

        budget = self._budgets.pop(0) if self._budgets else None
        await asyncio.gather(
            pipe(client_reader, upstream_writer, None),
            pipe(upstream_reader, client_writer, budget),
        )

    def drop_all(self) -> None:
        """Abort every open connection (both sides)."""

        def abort() -> None:
            for transport in list(self._transports):
                transport.abort()
            self._transports.clear()

        self._loop.call_soon_threadsafe(abort)

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for transport in list(self._transports):
                transport.abort()  # each connection's pipes then end by themselves
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if tasks:
                await asyncio.wait(tasks, timeout=2)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
