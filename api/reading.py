"""Reading a job to its end for a client that waits for one answer (``stream: false``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.requests import Request

import capture

__all__ = ("read_unless_gone",)


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
