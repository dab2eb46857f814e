"""A real worker process (``python -m job_worker``) in a subprocess, for integration tests."""

from __future__ import annotations

import time

from tests.server import ChildProcess


class WorkerProcess(ChildProcess):
    """``python -m job_worker`` with the given environment; its output is kept in ``lines``."""

    stop_timeout = 30.0  # a worker stopped with SIGTERM first finishes its jobs

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(["-m", "job_worker"], env)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until it says it takes jobs."""
        deadline = time.monotonic() + timeout
        while not any("taking jobs" in line for line in self.output()):
            if self.process.poll() is not None:
                raise RuntimeError("worker exited:\n" + "\n".join(self.output()))
            if time.monotonic() > deadline:
                raise TimeoutError("worker did not start:\n" + "\n".join(self.output()))
            time.sleep(0.05)
