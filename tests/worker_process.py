"""A real worker process (``python -m job_worker``) in a subprocess, for integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from types import TracebackType

from tests.server import ROOT, default_knowledge_base


class WorkerProcess:
    """``python -m job_worker`` with the given environment; its output is kept in ``lines``."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        full_env.setdefault("KNOWLEDGE_BASE", str(default_knowledge_base()))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "job_worker"], cwd=ROOT, env=full_env,
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
        """Until it says it takes jobs."""
        deadline = time.monotonic() + timeout
        while not any("taking jobs" in line for line in self.output()):
            if self.process.poll() is not None:
                raise RuntimeError("worker exited:\n" + "\n".join(self.output()))
            if time.monotonic() > deadline:
                raise TimeoutError("worker did not start:\n" + "\n".join(self.output()))
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> WorkerProcess:
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
