"""A real uvicorn server in a subprocess, on a free port, for integration tests."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from api.http_guard import GuardedHttpToolsProtocol

ROOT = Path(__file__).resolve().parent.parent
# As `make run` and the systemd units serve: uvicorn's httptools protocol with the header guard.
HTTP_PROTOCOL = f"{GuardedHttpToolsProtocol.__module__}:{GuardedHttpToolsProtocol.__qualname__}"


@functools.cache
def default_knowledge_base() -> Path:
    """The default corpus, indexed once per test run, for every server a test starts.

    The default corpus is the Python manual that ``make test`` fetches first (``make manual``);
    without it, the documentation that ships with the interpreter.  A server started without
    ``KNOWLEDGE_BASE`` gets this one rather than indexing the manual into ``data/`` while its
    test waits for it to start (minutes on a busy machine).
    """
    from pipeline.knowledge import KnowledgeBase

    directory = Path(tempfile.mkdtemp(prefix="test-kb-"))
    atexit.register(shutil.rmtree, directory, True)
    path = directory / "knowledge.sqlite3"
    with KnowledgeBase(path) as kb:
        kb.ensure_default_corpus(progress=lambda line: None)
    return path


def end_process(process: subprocess.Popen[Any], timeout: float) -> None:
    """Stop ``process`` as its own signal handling would (SIGTERM), killing it after ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChildProcess:
    """A Python process of the project started with ``args``; its output is kept in ``lines``.

    Subclasses say when it is ready (``wait_ready``); ``with`` waits for that and stops it after.
    """

    stop_timeout = 15.0  # seconds SIGTERM gets before SIGKILL

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        if "KNOWLEDGE_BASE" not in env:
            full_env["KNOWLEDGE_BASE"] = str(default_knowledge_base())
        self.process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=full_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def wait_ready(self, timeout: float = 60) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        end_process(self.process, timeout=self.stop_timeout)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ServerProcess(ChildProcess):
    """``python -m uvicorn service:app`` with the given environment, on a free port.

    ``http``: the protocol class, as ``make run`` serves (None: uvicorn's own choice).
    """

    def __init__(
        self,
        env: dict[str, str],
        app: str = "service:app",
        args: list[str] | None = None,
        port: int | None = None,
        http: str | None = HTTP_PROTOCOL,
    ) -> None:
        self.port = port or free_port()  # a port of its own, or the one a stopped process used (a restart)
        self.url = f"http://127.0.0.1:{self.port}"
        # As `make run` does: the service writes its own access log (paths without query strings).
        super().__init__(
            ["-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
             *(["--http", http] if http else []), *(args or [])],
            env,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("server exited:\n" + "\n".join(self.output()))
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError("server did not start:\n" + "\n".join(self.output()))


@contextlib.contextmanager
def server_whose_knowledge_base_breaks(directory: Path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A server that started well and whose knowledge base then became a directory: every course fails.

    (A knowledge base that is not one from the start stops the server at startup instead.)
    """
    path = directory / "knowledge.sqlite3"
    shutil.copyfile(default_knowledge_base(), path)
    with ServerProcess({"KNOWLEDGE_BASE": str(path), **(env or {})}) as server:
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        path.mkdir()
        yield server
