"""A web process's registry with ``JOB_WORKERS=remote``: it enqueues jobs and serves their streams, and runs none.

Jobs run on worker processes (``_queue_worker.py``, ``python -m job_worker``); here a
job is admitted and enqueued in one script (``_redis_queue.py``: admission is global),
read from Redis exactly as a job run by another web process is (``_redis_reader.py``),
and cancelled over pub/sub (``cs:control``) once a worker has it, or ended where it
waits before.  Measured reason (BENCHMARKS.md, issue "worker tier"): job threads in a
web process share its GIL with the event loop, which held p99 print-to-client at
250-1,060 ms for 1,000 streams on 2 cores; here the event loop only moves bytes.

A web process stopping (deploy, crash) stops no job: its readers reconnect to another
web process and resume from their ``Last-Event-ID``; the job never notices.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ._events import Entry, Gap, JobInfo
from ._job import stopped_error
from ._limits import Limits
from ._redis_format import ADMITTED, CONNECTION, GROUP, QUEUE, STATS, WAITING, is_outage
from ._redis_queue import CANCEL_QUEUED_SCRIPT, ENQUEUE_SCRIPT, JobSpec, cancel_queued, enqueue, ensure_group
from ._redis_reader import RedisReader
from ._registry import Overloaded, StoreUnavailable, new_job_id

__all__ = ("PortableJob", "RemoteJobRegistry")

logger = logging.getLogger("capture")

# A web process's connections to Redis: every stream's start takes one for a few round trips
# (enqueue, status, catch-up). 16 let a burst of 20,000 streams wait past the pool's timeout,
# which reads as Redis being down and ended every stream; waiting for a connection is not an
# outage, so the wait is long (a Redis that does not answer fails its commands sooner).
MAX_CONNECTIONS = 64
POOL_WAIT_S = 60
COUNTS_EVERY_S = 1.0  # how fresh the global running/waiting figures of /metrics are


@dataclass(frozen=True, slots=True)
class PortableJob:
    """A job another process can build again: ``spec`` names its model and input; called here, it runs ``call``."""

    call: Callable[[], Any]
    spec: JobSpec

    def __call__(self) -> Any:
        return self.call()


class RemoteJobRegistry:
    """Jobs enqueued for workers through Redis; see the module docstring."""

    def __init__(self, url: str, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._owner = f"web:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=POOL_WAIT_S,
                                                        **CONNECTION)
        self._redis: Any = aioredis.Redis(connection_pool=pool)  # replies are bytes (see _redis.py)
        self._tail_redis: Any = aioredis.Redis.from_url(url, **CONNECTION)
        self._enqueue = self._redis.register_script(ENQUEUE_SCRIPT)
        self._cancel_queued = self._redis.register_script(CANCEL_QUEUED_SCRIPT)
        self._reader = RedisReader(self._redis, self._tail_redis, self._owner, self.limits, self)
        self.healthy = True
        self._admitting = True
        self._counts = (0, 0)  # (running, waiting), on all workers, as of the last refresh
        # Jobs lost and retried on all workers since Redis started; the queue's entries no
        # worker has read (depth) and those read and not yet acknowledged (pending).
        self._stats = {"lost": 0, "retried": 0, "queue_depth": 0, "pending": 0}
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        try:
            await self._redis.ping()
            await ensure_group(self._redis)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from None
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._reader.tail(), name="redis-tail"),
            loop.create_task(self._keep_counts(), name="redis-counts"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        await self._redis.aclose(close_connection_pool=True)
        await self._tail_redis.aclose()

    # -- the store's state ---------------------------------------------------------------

    def health(self) -> dict[str, str]:
        return {"registry": "redis", "redis": "ok" if self.healthy else "unavailable", "job_workers": "remote"}

    def unavailable(self, exc: BaseException) -> None:
        """Redis failed: refuse new jobs, end remote readers' streams; ``_keep_counts`` sees it come back."""
        if self.healthy:
            logger.error("redis unavailable: %s", exc)
        self.healthy = False
        self._reader.store_down()

    async def _keep_counts(self) -> None:
        """Refresh the global figures every second; while Redis is down, this is what sees it answer again."""
        while True:
            try:
                pipe = self._redis.pipeline(transaction=False)
                pipe.zcard(ADMITTED)
                pipe.zcard(WAITING)
                pipe.hmget(STATS, ["lost", "retried"])
                pipe.xinfo_groups(QUEUE)
                *replies, groups = await pipe.execute(raise_on_error=False)
                for reply in replies:
                    if isinstance(reply, Exception):
                        raise reply
                admitted, waiting, (lost, retried) = replies
                self._counts = (max(0, admitted - waiting), waiting)
                if isinstance(groups, Exception):  # no queue: Redis was emptied (a worker makes it again)
                    groups = []
                group: dict[str, Any] = next((g for g in groups if g.get("name") in (GROUP, GROUP.encode())), {})
                lag = group.get("lag")  # None when Redis cannot tell: what waits is then the jobs waiting
                self._stats = {"lost": int(lost or 0), "retried": int(retried or 0), "pending": int(
                    group.get("pending") or 0), "queue_depth": int(lag) if lag is not None else waiting}
                if not self.healthy:
                    logger.warning("redis available again")
                    self.healthy = True
            except (RedisError, OSError) as exc:
                if is_outage(exc):
                    self.unavailable(exc)
            await asyncio.sleep(COUNTS_EVERY_S)

    # -- starting and stopping -----------------------------------------------------------

    async def start(
        self, job: Callable[[], Any], model: str, *, resumable: bool = True, tags: dict[str, str] | None = None
    ) -> JobInfo:
        if not isinstance(job, PortableJob):
            raise TypeError("with remote workers a job must be a PortableJob (its model and input, for the worker)")
        if not self.healthy:
            raise StoreUnavailable("redis unavailable")
        if not self._admitting:
            running, waiting = self._counts
            raise Overloaded(running, waiting)
        job_id = new_job_id()
        try:
            admitted, running, waiting = await enqueue(
                self._enqueue, job_id, job.spec, self.limits, resumable=resumable, tags=dict(tags or {}),
                retries=self.limits.retries,
            )
        except (RedisError, OSError) as exc:
            if is_outage(exc):
                self.unavailable(exc)
            raise StoreUnavailable(str(exc)) from None
        if admitted < 0:
            raise Overloaded(running, waiting)
        self._counts = (running, waiting)
        info = await self._reader.status(job_id)
        if info is None:  # expired at once: only if Redis was flushed meanwhile
            raise StoreUnavailable(f"job {job_id} vanished from Redis")
        return info

    async def cancel(self, job_id: str, reason: str = "cancelled", wait: float = 2.0) -> JobInfo | None:
        info = await self.status(job_id)
        if info is None or info.finished is not None:
            return info
        if info.status == "queued":
            error = stopped_error(reason, self.limits)
            if await cancel_queued(self._cancel_queued, job_id, error, self.limits.retention):
                return await self.status(job_id)
        # A worker has it: it stops the job at its next print, and writes its end.
        await self._reader.cancel_elsewhere(job_id, reason, info.last_seq, wait)
        return await self.status(job_id)

    def cancel_all(self, reason: str = "shutdown") -> None:
        """Nothing runs here: a web process stopping leaves its jobs running on their workers."""

    def stop_admitting(self) -> None:
        self._admitting = False

    def stuck(self) -> int:
        return 0

    def queue_stats(self) -> dict[str, int]:
        """Jobs ended as ``worker_lost`` and run again (``JOB_RETRY``), and the queue's depth and
        pending entries: on all workers (global, refreshed every second)."""
        return dict(self._stats)

    def running(self) -> int:
        """Jobs running on all workers (global, refreshed every second)."""
        return self._counts[0]

    def waiting(self) -> int:
        """Jobs waiting for a worker (global, refreshed every second)."""
        return self._counts[1]

    # -- reading -------------------------------------------------------------------------

    async def status(self, job_id: str) -> JobInfo | None:
        return await self._reader.status(job_id)

    def entries(self, job_id: str, after: int = 0) -> AsyncIterator[Entry | Gap]:
        return self._reader.entries(job_id, after)
