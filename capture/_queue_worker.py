"""A worker process's loop: take jobs from the Redis queue, run them, and find the jobs of workers that died.

The jobs run as a web process's own do (``RedisJobRegistry``: threads, bridge, the
copy-out to Redis, the lease, fencing, cancels over ``cs:control``), at most
``threads`` at once; a job is taken (``XREADGROUP``, then ``CLAIM_SCRIPT``) only when
one of them is free, and only while fewer than ``MAX_CONCURRENT_JOBS`` run on all
workers.  Every second, entries pending for a while anywhere are examined
(``XAUTOCLAIM``): one whose job lost its worker (lease gone for 1.5 renewal periods)
is ended with ``worker_lost``, or, with retries left, queued again after a
``restarted`` event and taken at once.

``drain()`` (SIGTERM) takes no new job, lets the running ones finish for up to
``drain_timeout`` seconds, stops what is left with ``shutdown`` and returns; jobs this
worker read but had not started stay pending, and another worker takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ._events import JobInfo
from ._limits import Limits
from ._redis import RedisJobRegistry
from ._redis_format import ADMITTED, CONNECTION, GROUP, QUEUE, WAITING, events_key, is_outage, job_key
from ._redis_queue import CLAIM_SCRIPT, START_MESSAGE, JobSpec, ensure_group

__all__ = ("QueueWorker",)

logger = logging.getLogger("capture")

SWEEP_EVERY_S = 1.0
SWEEP_IDLE_MS = 2_000  # entries pending at least this long are examined by the sweep
READ_BLOCK_MS = 1_000

JobBuilder = Callable[[JobSpec], Callable[[], Any]]


class QueueWorker:
    """One worker process's consumer of ``cs:queue``; see the module docstring."""

    def __init__(
        self, url: str, limits: Limits, *, threads: int, build: JobBuilder, drain_timeout: float, echo: bool = False,
        on_finish: Callable[[JobInfo], None] | None = None,
    ) -> None:
        self.threads = threads
        self.limits = limits  # the global ones: max_running is MAX_CONCURRENT_JOBS on all workers
        self._build = build
        self._drain_timeout = drain_timeout
        self._on_finish = on_finish
        local = dataclasses.replace(limits, max_running=threads, max_waiting=0)
        self.registry = RedisJobRegistry(url, local, echo=echo, on_finish=self._ended)
        self._redis: Any = aioredis.Redis.from_url(url, **CONNECTION)  # scripts and the sweep
        self._block: Any = aioredis.Redis.from_url(url, **CONNECTION)  # the blocking XREADGROUP
        self._claim = self._redis.register_script(CLAIM_SCRIPT)
        self._running: set[str] = set()
        self._held: dict[str, bytes] = {}  # job id -> entry: read, but every place was taken
        self._freed = asyncio.Event()
        self._stopping = False

    @property
    def owner(self) -> str:
        return self.registry.owner

    def running(self) -> int:
        return len(self._running)

    async def run(self) -> None:
        """Take and run jobs until ``drain()``; then wait for the running ones (bounded) and close."""
        await self.registry.open()
        await ensure_group(self._redis)
        logger.info("worker %s: taking jobs, %d at once", self.owner, self.threads)
        tasks = [asyncio.create_task(self._consume(), name="queue-consume"),
                 asyncio.create_task(self._sweep(), name="queue-sweep")]
        try:
            while not self._stopping:
                self._freed.clear()
                await self._freed.wait()
            # Both loops see the drain within a blocking read: let them end by themselves rather
            # than cancel one between taking a job and starting it.
            await asyncio.wait(tasks, timeout=READ_BLOCK_MS / 1000 + SWEEP_EVERY_S + 1)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=2)
            await self._finish_running()
            await self.registry.aclose()
            await self._redis.aclose()
            await self._block.aclose()

    def drain(self) -> None:
        """Take no new job; ``run`` returns once the running ones ended (or the drain timeout passed)."""
        if not self._stopping:
            logger.info("worker %s: draining, %d jobs running", self.owner, len(self._running))
        self._stopping = True
        self.registry.stop_admitting()
        self._freed.set()

    async def _finish_running(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._drain_timeout
        while self._running and loop.time() < deadline:
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), deadline - loop.time())
        if self._running:
            logger.warning("worker %s: %d jobs still running after %g s: stopping them", self.owner,
                           len(self._running), self._drain_timeout)
            self.registry.cancel_all("shutdown")

    def _ended(self, info: JobInfo) -> None:
        self._running.discard(info.id)
        self._freed.set()
        if self._on_finish is not None:
            self._on_finish(info)

    # -- taking jobs -----------------------------------------------------------------------

    async def _consume(self) -> None:
        while not self._stopping:
            try:
                for job_id, entry in list(self._held.items()):  # read before, when every place was taken
                    if self._free() and await self._take(job_id, entry) != -1:
                        self._held.pop(job_id, None)
                if self._held or not self._free():
                    self._freed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._freed.wait(), 0.2 if self._held else 1.0)
                    continue
                rows = await self._block.xreadgroup(GROUP, self.owner, {QUEUE: ">"}, count=self._free(),
                                                    block=READ_BLOCK_MS)
                await self._take_all([(fields[b"job"].decode(), entry) for _, items in rows or []
                                      for entry, fields in items])
            except (RedisError, OSError) as exc:
                if is_outage(exc):
                    self.registry.unavailable(exc)
                else:
                    logger.exception("the job queue refused a read")
                await asyncio.sleep(1.0)

    def _free(self) -> int:
        return 0 if self._stopping or not self.registry.healthy else self.threads - len(self._running)

    async def _take(self, job_id: str, entry: bytes) -> int:
        """Claim one job and start it; -1 when every place is taken (try again later)."""
        return (await self._take_all([(job_id, entry)]))[0]

    async def _take_all(self, taken: list[tuple[str, bytes]]) -> list[int]:
        """Claim jobs and start them, in two round trips for them all; for each, its last seq, or
        -1 when every place was taken (it is held, to try again later).

        Claimed one by one (two round trips each), a burst of 1,000 jobs took 3-4 s to start on
        2 cores, every round trip waiting for a turn of a loop busy with the running jobs' lines.
        """
        if not taken:
            return []
        if self._stopping:
            return [-3] * len(taken)  # draining: the entries stay pending, and another worker takes them
        pipe = self._redis.pipeline(transaction=False)
        for job_id, _ in taken:
            await self._claim([job_key(job_id), events_key(job_id), ADMITTED, WAITING],
                              [self.owner, self.limits.max_running, job_id, START_MESSAGE], client=pipe)
        claims = await pipe.execute()
        pipe = self._redis.pipeline(transaction=False)
        afters = []
        for (job_id, entry), result in zip(taken, claims, strict=True):
            after = int(result[0])
            afters.append(after)
            if after == -2:  # ended (cancelled while it waited) or expired
                pipe.xack(QUEUE, GROUP, entry)
            elif after == -1:
                self._held[job_id] = entry
            elif after >= 0:
                pipe.hgetall(job_key(job_id))
        replies = iter(await pipe.execute())
        for (job_id, _), after, result in zip(taken, afters, claims, strict=True):
            if after == -2:
                next(replies)  # the acknowledgement
            elif after >= 0:
                self._start(job_id, after, int(result[1]), next(replies))
        return afters

    def _start(self, job_id: str, after: int, attempt: int, raw: dict[bytes, bytes]) -> None:
        fields = {key.decode(): value.decode("utf-8", "replace") for key, value in raw.items()}
        spec = JobSpec(fields.get("model", ""), fields.get("input", ""))
        try:
            call = self._build(spec)
        except Exception as exc:  # noqa: BLE001 - an unknown model, a bad input: the job says why
            call = functools.partial(_refused, f"this worker cannot run {spec.model!r}: {exc}")
        self._running.add(job_id)
        self.registry.run_claimed(job_id, call, spec.model, after=after, resumable=fields.get("resumable") != "0",
                                  tags=json.loads(fields.get("tags") or "{}"))
        logger.info("worker %s: job %s (%s), attempt %d", self.owner, job_id, spec.model, attempt)

    # -- the jobs of lost workers -----------------------------------------------------------

    async def _sweep(self) -> None:
        while not self._stopping:
            try:
                cursor: Any = "0-0"
                while True:
                    reply = await self._redis.xautoclaim(QUEUE, GROUP, self.owner, SWEEP_IDLE_MS, cursor, count=100)
                    cursor, claimed = reply[0], reply[1]
                    for entry, fields in claimed:
                        if fields:
                            await self._examine(fields[b"job"].decode(), entry)
                    if cursor in (b"0-0", "0-0"):
                        break
            except (RedisError, OSError) as exc:
                if is_outage(exc):
                    self.registry.unavailable(exc)
                else:
                    logger.exception("the job queue refused the sweep")
            await asyncio.sleep(SWEEP_EVERY_S)

    async def _examine(self, job_id: str, entry: bytes) -> None:
        """A pending entry: run it if nobody has it, end or requeue it if its worker is gone."""
        if job_id in self._running or job_id in self._held:
            return
        owner, finished = await self._redis.hmget(job_key(job_id), ["owner", "finished"])
        if owner is None or finished:
            await self._redis.xack(QUEUE, GROUP, entry)
            return
        if owner and owner.decode() != self.owner:
            if await self.registry.check_owner(job_id, owner.decode()) >= 0:
                return  # its worker lives (or it was ended as lost, which acknowledged it)
        # Queued again, or never taken: run it here.
        if not self._free() or await self._take(job_id, entry) == -1:
            self._held[job_id] = entry


def _refused(message: str) -> None:
    raise RuntimeError(message)

