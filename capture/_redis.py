"""A job registry shared through Redis Streams: any process serves any job.

Each process runs its own jobs exactly as ``MemoryJobRegistry`` does (its readers
read them from memory, with no Redis round trip per event) and copies them out
(``_redis_writer.py``); readers of jobs run elsewhere read Redis
(``_redis_reader.py``); what is kept under which key is in ``_redis_format.py``.
``DELETE`` on any process reaches the owner over pub/sub (``cs:control``).

If Redis cannot be reached (or answers that it cannot take work: ``is_outage``), new
jobs are refused (``StoreUnavailable``: 503), the jobs running here are stopped with a
``store_unavailable`` error, readers of remote jobs get the same error, and the
registry checks every second until Redis answers again; nothing needs restarting.
An error reply about one job's keys is that job's problem, never every job's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ._events import Entry, Gap, JobInfo
from ._job import Job
from ._limits import Limits
from ._redis_format import CONNECTION, CONTROL, LEASE_S, RUNNING_TTL_S, is_outage, job_key, lease_key, readers_key
from ._redis_reader import RedisReader
from ._redis_writer import RedisWriter
from ._registry import MemoryJobRegistry, StoreUnavailable

__all__ = ("RedisJobRegistry",)

logger = logging.getLogger("capture")

MAX_CONNECTIONS = 16


class RedisJobRegistry:
    """Jobs shared by every process that uses the same Redis; see the module docstring."""

    def __init__(
        self,
        url: str,
        limits: Limits | None = None,
        *,
        echo: bool = False,
        on_finish: Callable[[JobInfo], None] | None = None,
    ) -> None:
        self.limits = limits or Limits()
        owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # Typed as Any: redis-py annotates every reply as the union of all its decoding modes,
        # which no caller can use as is; replies here are bytes (decode_responses is off).
        # A bounded pool that waits for a free connection: a burst of a thousand new jobs must
        # not open a thousand connections (Redis refuses clients beyond its file limit).
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=5, **CONNECTION)
        self._redis: Any = aioredis.Redis(connection_pool=pool)
        # The shared tail read blocks, and pub/sub holds its connection: their own pool.
        self._tail_redis: Any = aioredis.Redis.from_url(url, **CONNECTION)
        self._on_finish = on_finish
        self.local = MemoryJobRegistry(
            self.limits, echo=echo, on_finish=self._local_ended, on_entry=self._copy_out,
            still_wanted=self._read_elsewhere,
        )
        self.healthy = True
        self._writer = RedisWriter(self._redis, owner, self.limits, self, stop_job=self._stop_local)
        self._reader = RedisReader(self._redis, self._tail_redis, owner, self.limits, self)
        self._tasks: list[asyncio.Task[None]] = []
        self._bases: dict[str, int] = {}  # jobs taken from the queue: the seq their stream had then

    @property
    def owner(self) -> str:
        """This process, as the owner of the jobs it runs."""
        return self._writer.owner

    # -- life --------------------------------------------------------------------------

    async def open(self) -> None:
        """Check that Redis answers (raises ``StoreUnavailable``), then start the background tasks."""
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from None
        await self._writer.renew_lease()
        loop = asyncio.get_running_loop()
        for name, work in (
            ("redis-writer", self._writer.run),
            ("redis-lease", self._writer.keep_lease),
            ("redis-tail", self._reader.tail),
            ("redis-control", self._control),
        ):
            self._tasks.append(loop.create_task(work(), name=name))

    async def aclose(self) -> None:
        await self.local.aclose()
        # The writer copies out what the jobs' ends queued, then returns by itself.
        self._writer.close()
        writer = [task for task in self._tasks if task.get_name() == "redis-writer"]
        if writer:
            await asyncio.wait(writer, timeout=2)
        for task in self._tasks:
            task.cancel()
        # redis-py may swallow a cancellation that lands mid-command (its connection then
        # drops): wait a bounded time rather than for ever.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        with contextlib.suppress(RedisError, OSError):
            await asyncio.wait_for(self._redis.delete(lease_key(self.owner)), 2)
        await self._redis.aclose(close_connection_pool=True)
        await self._tail_redis.aclose()

    def health(self) -> dict[str, str]:
        return {"registry": "redis", "redis": "ok" if self.healthy else "unavailable"}

    def unavailable(self, exc: BaseException) -> None:
        """Redis failed: refuse new jobs, stop ours, tell remote readers; recover by itself.

        What the jobs here wrote and have not copied out yet stays queued (their ends
        included), and is written as soon as Redis takes writes again: other processes
        then see these jobs end instead of "running" until their keys expire.
        """
        if self.healthy:
            logger.error("redis unavailable: %s", exc)
        self.healthy = False
        self.local.cancel_all("store_unavailable")
        self._reader.store_down()

    # -- starting and stopping --------------------------------------------------------------

    async def start(
        self, job: Callable[[], Any], model: str, *, resumable: bool = True, tags: dict[str, str] | None = None
    ) -> JobInfo:
        if not self.healthy:
            raise StoreUnavailable("redis unavailable")
        handle = self.local.start_job(job, model, resumable=resumable, tags=tags)
        info = handle.info()
        self._writer.hold(info.id)  # (before any await: none of its events is written yet)
        try:
            pipe = self._redis.pipeline(transaction=False)
            # The lease with the job: a Redis restarted empty since the last renewal would
            # otherwise make this job look lost to a reader elsewhere.
            pipe.set(lease_key(self.owner), "1", px=int(LEASE_S * 1000))
            pipe.hset(job_key(info.id), mapping={
                "model": model, "owner": self.owner, "created": repr(info.created), "status": info.status,
                "tags": json.dumps(dict(info.tags)), "resumable": "1" if resumable else "0",
            })
            pipe.expire(job_key(info.id), int(RUNNING_TTL_S))
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self._writer.release(info.id, created=False)
            handle.cancel("store_unavailable")
            if is_outage(exc):
                self.unavailable(exc)
            raise StoreUnavailable(str(exc)) from None
        except BaseException:
            self._writer.release(info.id, created=False)
            handle.cancel("cancelled")
            raise
        self._writer.release(info.id, created=True)
        return info

    def run_claimed(
        self, job_id: str, job: Callable[[], Any], model: str, *, after: int, resumable: bool, tags: dict[str, str],
    ) -> Job:
        """Run here a job this worker took from the queue (its hash says so already): its events
        follow the ``after`` already in its stream (a waiting position, an earlier attempt)."""
        self._bases[job_id] = after
        return self.local.start_job(
            job, model, resumable=True, tags=tags, job_id=job_id, first_seq=after + 1,
            # Its readers are elsewhere: a job nobody reads any more is stopped as on a web process.
            grace_period=self.limits.grace_period if resumable else 0.0,
        )

    async def cancel(self, job_id: str, reason: str = "cancelled", wait: float = 2.0) -> JobInfo | None:
        if self.local.get(job_id) is not None:
            return await self.local.cancel(job_id, reason, wait)
        info = await self.status(job_id)
        if info is None or info.finished is not None:
            return info
        await self._reader.cancel_elsewhere(job_id, reason, info.last_seq, wait)
        return await self.status(job_id)

    def cancel_all(self, reason: str = "shutdown") -> None:
        self.local.cancel_all(reason)

    def stop_admitting(self) -> None:
        self.local.stop_admitting()

    def stuck(self) -> int:
        return self.local.stuck()

    def running(self) -> int:
        return self.local.running()

    def waiting(self) -> int:
        return self.local.waiting()

    async def _control(self) -> None:
        """Cancels asked for on other processes, for jobs running here."""
        while True:
            try:
                async with self._tail_redis.pubsub() as pubsub:
                    await pubsub.subscribe(CONTROL)
                    # (Re)subscribed: Redis may have restarted empty. Re-assert the lease now,
                    # not at the next renewal, so that no reader takes this process for lost.
                    with contextlib.suppress(RedisError, OSError):
                        await self._writer.renew_lease()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        order = json.loads(message["data"])
                        job = self.local.get(str(order.get("cancel")))
                        if job is not None:
                            job.cancel(str(order.get("reason") or "cancelled"))
            except (RedisError, OSError):
                await asyncio.sleep(1.0)

    # -- the jobs run here, copied out ------------------------------------------------------

    def _copy_out(self, job: Job, entry: Entry) -> None:
        """Called for each entry a resumable job here logs: queue its copy for the writer."""
        first_kept = job.first_kept_seq
        base = self._bases.get(job.id)
        if base is not None and first_kept <= base + 1:
            first_kept = 1  # nothing dropped yet: what came before this run stays readable
        self._writer.event(job.id, entry, first_kept)

    def _local_ended(self, info: JobInfo) -> None:
        self._bases.pop(info.id, None)
        if self._on_finish is not None:
            self._on_finish(info)
        self._writer.end(info)

    def _stop_local(self, job_id: str, reason: str) -> None:
        job = self.local.get(job_id)
        if job is not None:
            job.cancel(reason)

    async def check_owner(self, job_id: str, owner: str) -> int:
        """End or requeue ``job_id`` if ``owner`` is gone (``RedisReader.check_owner``)."""
        return await self._reader.check_owner(job_id, owner)

    async def _read_elsewhere(self, job_id: str) -> bool:
        """Does a process other than this one have a reader for ``job_id``?"""
        return bool(await self._redis.exists(readers_key(job_id)))

    # -- reading ---------------------------------------------------------------------------

    async def status(self, job_id: str) -> JobInfo | None:
        local = await self.local.status(job_id)
        if local is not None:
            return local
        return await self._reader.status(job_id)

    def entries(self, job_id: str, after: int = 0) -> AsyncIterator[Entry | Gap]:
        if self.local.get(job_id) is not None:
            return self.local.entries(job_id, after)  # from memory, no Redis round trip per event
        return self._reader.entries(job_id, after)
