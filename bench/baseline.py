"""The design this service replaces, reimplemented faithfully as the benchmarks' baseline.

From the original design document (see README "Benchmarks"): each request's job
swaps the process-wide ``sys.stdout`` for a ``StreamingPrintCapture`` and yields
what was captured after each step; a daemon thread runs the job and puts its
items on a ``queue.Queue``; the async side polls that queue through
``loop.run_in_executor(None, get_with_timeout)`` with ``get(timeout=0.1)``,
sleeps 0.01 s when it is empty, and sends a heartbeat every 10 s; the service
layer turns items into the same ``chat.completion.chunk`` lines.

It serves the same ``ticker`` job (one ``tick <i> <time_ns> <token>`` line per
tick) on the same route, so one load client can measure both.

Do not fix it: its flaws are what the benchmarks measure.

    python -m uvicorn bench.baseline:app --port 8001
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from pipeline.ticker import parse_ticker_input


class StreamingPrintCapture:
    def __init__(self) -> None:
        self.original_stdout = sys.stdout
        self.buffer: list[str] = []

    def write(self, text: str) -> int:
        self.original_stdout.write(text)  # still shown on the console
        self.buffer.append(text)  # and kept
        return len(text)

    def flush(self) -> None:
        pass

    def get_and_clear(self) -> str:
        content = "".join(self.buffer)
        self.buffer = []
        return content


def stream_ticker_progress(subject: str, config: Any = None) -> Iterator[dict[str, Any]]:
    """The ticker, in the seed's orchestrator style: swap stdout, print, yield what was captured."""
    spec = parse_ticker_input(subject)
    capture = StreamingPrintCapture()
    old_stdout = sys.stdout
    sys.stdout = capture
    try:
        start = time.monotonic()
        for i in range(spec.ticks):
            if i:
                time.sleep(max(0.0, start + i * spec.interval - time.monotonic()))
            print(f"tick {i} {time.time_ns()} {spec.token}")
            yield {"type": "progress", "content": capture.get_and_clear()}
        answer = f"ticker done: {spec.ticks} ticks every {spec.interval:g} s, token {spec.token}"
        yield {"type": "complete", "results": {"markdown": answer}}
    finally:
        sys.stdout = old_stdout


async def async_stream_wrapper_with_heartbeat(
    loop: asyncio.AbstractEventLoop,
    generator_func: Callable[..., Iterator[dict[str, Any]]],
    *args: Any,
    heartbeat_interval: float = 10,
) -> AsyncIterator[dict[str, Any]]:
    result_queue: queue.Queue[tuple[str, Any]] = queue.Queue()

    def run_generator() -> None:
        for item in generator_func(*args):
            result_queue.put(("item", item))
        result_queue.put(("done", None))

    thread = threading.Thread(target=run_generator, daemon=True)
    thread.start()

    def get_with_timeout() -> tuple[str, Any] | None:
        try:
            return result_queue.get(timeout=0.1)
        except queue.Empty:
            return None

    last_heartbeat = time.time()
    while True:
        if time.time() - last_heartbeat >= heartbeat_interval:
            yield {"type": "heartbeat"}
            last_heartbeat = time.time()
        result = await loop.run_in_executor(None, get_with_timeout)
        if result:
            kind, item = result
            if kind == "done":
                break
            yield item
        else:
            await asyncio.sleep(0.01)


# The seed hard-codes 10 s; reading the same setting as the service keeps "same settings" true.
HEARTBEAT_INTERVAL = float(os.environ.get("HEARTBEAT_INTERVAL", "10"))


async def stream_course_generation(subject: str, model: str) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    chunk_id = f"chatcmpl-{int(time.time() * 1000)}"

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        payload = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        return f"data: {json.dumps(payload)}\n\n"

    async for update in async_stream_wrapper_with_heartbeat(
        loop, stream_ticker_progress, subject, heartbeat_interval=HEARTBEAT_INTERVAL
    ):
        if update["type"] == "heartbeat":
            yield chunk({})
        elif update["type"] == "progress":
            yield chunk({"role": "assistant", "reasoning_content": update["content"]})
        elif update["type"] == "complete":
            yield chunk({"content": update["results"]["markdown"]})
    yield chunk({}, finish_reason="stop")
    yield "data: [DONE]\n\n"


async def chat_completions(request: Request) -> StreamingResponse:
    body = await request.json()
    subject = body["messages"][-1]["content"]
    stream = stream_course_generation(subject, body.get("model", "ticker"))
    return StreamingResponse(stream, media_type="text/event-stream")


app = Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])
