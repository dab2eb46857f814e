"""A real OpenAI-compatible server on loopback, with scripted answers and failures, for tests.

The test sets ``behavior`` before a request; the server records what it was asked
and whether its client went away.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.server import free_port

REASONING = ["Reading ", "the sources ", "first.\n"]
ANSWER = ["# Context managers\n\n", "A context manager ", "sets up and tears down ", "a context [1].\n"]


def chunk(delta: dict[str, Any]) -> str:
    payload = {"id": "up-1", "object": "chat.completion.chunk", "created": 0, "model": "script",
               "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return f"data: {json.dumps(payload)}\n\n"


class FakeUpstream:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.behavior = "answer"
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.disconnected = threading.Event()
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical", lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, name="fake-upstream", daemon=True)

    async def _chat(self, request: Request) -> Response:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        behavior = self.behavior
        if behavior == "401":
            return JSONResponse({"error": {"message": "Incorrect API key provided"}}, status_code=401)
        if behavior == "429":
            return JSONResponse({"error": {"message": "Rate limit reached"}}, status_code=429)
        if behavior == "500":
            return JSONResponse({"error": {"message": "the model fell over"}}, status_code=500)
        return StreamingResponse(self._stream(behavior), media_type="text/event-stream")

    async def _stream(self, behavior: str) -> AsyncIterator[str]:
        finished = False
        try:
            field = "reasoning" if behavior == "reasoning-field" else "reasoning_content"
            for token in REASONING:
                yield chunk({field: token})
            if behavior == "slow":
                for i in range(1000):
                    yield chunk({"content": f"token{i} "})
                    await asyncio.sleep(0.1)
            for index, token in enumerate(ANSWER):
                if behavior == "cut" and index == 2:
                    raise RuntimeError("connection cut mid-answer (scripted)")
                yield chunk({"content": token})
            yield "data: [DONE]\n\n"
            finished = True
        finally:
            if not finished and behavior != "cut":
                self.disconnected.set()

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the fake upstream did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(10)
