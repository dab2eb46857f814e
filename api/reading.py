"""Reading a job's events outside a stream: to its end for a client that waits for one answer
(``stream: false``), or up to a point (``logged_entries``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.requests import Request

import capture

__all__ = ("logged_entries", "read_unless_gone")


async def read_unless_gone(
    request: Request,
    entries: AsyncIterator[capture.Entry | capture.Gap],
    take: Callable[[capture.Entry | capture.Gap], Any],
) -> bool:
    """Give each of ``entries`` to ``take`` until the job's end; False if the client went away first."""
    gone = False
    async with anyio.create_task_group() as tg:

        async def cancel_on_disconnect() -> None:
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            gone = True
            tg.cancel_scope.cancel()

        tg.start_soon(cancel_on_disconnect)
        async for item in entries:
            take(item)
        tg.cancel_scope.cancel()
    return not gone


@contextlib.asynccontextmanager
async def logged_entries(
    registry: capture.JobRegistry, job_id: str, after: int = 0
) -> AsyncIterator[AsyncIterator[capture.Entry | capture.Gap]]:
    """The job's entries after ``after``, closed when the block ends, however it ends: a reader
    counts (and, in Redis, is followed) until its iterator is closed."""
    entries = registry.entries(job_id, after)
    try:
        yield entries
    finally:
        close = getattr(entries, "aclose", None)
        if close is not None:
            await close()
