"""Jobs that misbehave (ignore cancellation, return what JSON cannot hold, fail, print slowly), served
as models by a real server beside the built-in ones: ``start_server(env)``."""

from __future__ import annotations

import datetime
import functools
import json
import time
from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette

import capture
import service
from api.catalogue import Model
from tests.server import ServerProcess


def _echo(text: str) -> str:
    print(text)
    return "done"


def _echo_json(text: str) -> str:
    """Prints the JSON string it is given, decoded: the way to make a job print a lone surrogate."""
    print(json.loads(text))
    return "done"


def _sleeper(text: str) -> str:
    time.sleep(float(text))  # blocking on purpose: it ignores cancellation
    return "woke"


def _unencodable(text: str) -> dict[str, Any]:
    if text == "circular":
        loop: list[Any] = []
        loop.append(loop)
        return {"markdown": "circular", "loop": loop}
    return {"markdown": "a result", "when": datetime.datetime(2024, 1, 2, 3, 4, 5), "tags": {"a"}}


def _paced(text: str) -> Iterator[dict[str, Any]]:
    """``lines`` lines of 1,000 characters, one every ``pause`` seconds."""
    spec = json.loads(text)
    for i in range(spec["lines"]):
        print(f"{i:06d} " + "x" * 993)
        capture.sleep(spec["pause"])
    yield {"type": "complete", "results": {}}


def _fails(text: str) -> str:
    raise RuntimeError("this job fails on purpose")


_JOBS = {
    "echo": _echo,
    "echo-json": _echo_json,
    "sleeper": _sleeper,
    "unencodable": _unencodable,
    "paced": _paced,
    "fails": _fails,
}


def make_app() -> Starlette:
    """The service as the environment configures it, with the jobs above as models."""
    app = service.create_app(service.load_settings())
    for name, job in _JOBS.items():
        def prepare(text: str, job: Any = job) -> Any:
            return functools.partial(job, text)

        app.state.runtime.models[name] = Model(name, "a test job", "embedded", prepare)
    return app


def start_server(env: dict[str, str]) -> ServerProcess:
    """A real server with the jobs above (``--factory``)."""
    return ServerProcess(env, app="tests.misbehaving_jobs:make_app", args=["--factory"])
