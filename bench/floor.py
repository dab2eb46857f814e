"""The stack's floor: the same ``ticker`` stream from Starlette and sse-starlette alone.

No job thread, no captured stdout, no queue, no registry, no middleware: an
async generator sleeps with ``asyncio.sleep`` and yields the chunk this service
would send, through the same ``EventSourceResponse`` with heartbeats and a send
timeout, under the same uvicorn.  What it costs per stream and per event is what
the framework costs; the rest of this service's figures is the price of running
blocking, printing jobs in threads.

Its tick timestamps are taken on the event loop, just before the yield, so its
delays leave out any time a tick waited for the loop: compare its wall time and
memory, not its latency.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pipeline.ticker import parse_ticker_input

HEARTBEAT = '{"choices":[{"index":0,"delta":{},"finish_reason":null}]}'


async def chat_completions(request: Request) -> Response:
    body = json.loads(await request.body())
    spec = parse_ticker_input(body["messages"][-1]["content"])

    async def ticks() -> AsyncIterator[bytes]:
        start = time.monotonic()
        for i in range(spec.ticks):
            if i:
                await asyncio.sleep(max(0.0, start + i * spec.interval - time.monotonic()))
            text = json.dumps(f"tick {i} {time.time_ns()} {spec.token}\n")
            yield f'data: {{"choices":[{{"index":0,"delta":{{"reasoning_content":{text}}}}}]}}\n\n'.encode()
        yield b"data: [DONE]\n\n"

    return EventSourceResponse(
        ticks(),
        ping=float(os.environ.get("HEARTBEAT_INTERVAL", "15")),
        ping_message_factory=lambda: ServerSentEvent(data=HEARTBEAT, sep="\n"),
        sep="\n",
        send_timeout=30,
    )


async def index(request: Request) -> Response:
    return PlainTextResponse("stack floor")


app = Starlette(routes=[Route("/", index), Route("/v1/chat/completions", chat_completions, methods=["POST"])])
