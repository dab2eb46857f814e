"""What the tests share: request bodies, waiting for a condition, a server's metrics, in-process clients."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette

from tests.server import ServerProcess


def ticker(ticks: int, interval: float, token: str = "-") -> str:
    """The ticker's input: ``ticks`` lines, one every ``interval`` seconds, each ending with ``token``."""
    return json.dumps({"ticks": ticks, "interval": interval, "token": token})


def chat(model: str, text: str, stream: bool = True) -> dict[str, Any]:
    """A chat completion request whose one user message is ``text``."""
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}


def post_json(url: str, body: Any, **kwargs: Any) -> httpx.Response:
    """POST ``body`` as JSON written by the standard library (lone surrogates as escapes)."""
    return httpx.post(url, content=json.dumps(body).encode(), headers={"content-type": "application/json"},
                      timeout=kwargs.pop("timeout", 10), **kwargs)


def wait_for(condition: Callable[[], object], what: str, timeout: float = 20) -> None:
    """Wait until ``condition()`` is true, failing with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def metric(server: ServerProcess, name: str) -> float:
    """The value of one of ``server``'s metrics (one without labels)."""
    for line in httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def in_process(app: Starlette) -> httpx.AsyncClient:
    """A client that sends its requests to ``app`` in this process (no server, no lifespan).

    For answers and errors only: httpx's ``ASGITransport`` collects a whole body before
    returning, so streams are tested against a real server (``tests/server.py``).
    """
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
