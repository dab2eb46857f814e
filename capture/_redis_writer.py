"""What one process writes to Redis: its jobs' events and ends, copied out in pipelined batches, and its lease.

The process's own readers read its jobs from memory; the copy is for readers on
other processes, so it is off their path: each logged entry is queued here, and one
writer task sends everything queued since its last round trip in one pipeline, in
order.  A retried append cannot duplicate an event (its stream id is its sequence
number).  Every write is fenced (``_redis_format.py``): once another process has
declared this one lost for a job, the job's writes are refused, and the job is
stopped here.  While Redis refuses writes, what was queued waits (bounded: the oldest
progress goes first, never an end) and is written once Redis answers again, so other
processes see these jobs end.  The lease is renewed every ``RENEW_S`` seconds; while
Redis is down it is tried every second, and the first success says Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ._events import Complete, Entry, Error, JobInfo
from ._limits import Limits
from ._redis_format import (
    APPEND_SCRIPT,
    END_SCRIPT,
    LEASE_S,
    RENEW_S,
    RUNNING_TTL_S,
    Health,
    answer_key,
    encode,
    events_key,
    is_outage,
    job_key,
    lease_key,
    lost_keys,
    terminal_json,
)

__all__ = ("RedisWriter",)

logger = logging.getLogger("capture")

# While Redis refuses writes, what the jobs here log waits for it, up to this many entries;
# beyond, the oldest progress is dropped (readers get a ``gap``), never a terminal event
# nor a job's end record.
MAX_PENDING_WRITES = 20_000

_Write = tuple[str, str, Any]  # ("event", job id, (entry, first kept seq)) or ("end", job id, JobInfo)


class RedisWriter:
    """The copy-out queue of one process's jobs, its writer task, and its lease."""

    def __init__(
        self, redis: Any, owner: str, limits: Limits, health: Health, stop_job: Callable[[str, str], None]
    ) -> None:
        self._redis = redis
        self.owner = owner
        self._limits = limits
        self._health = health
        self._stop_job = stop_job  # (job id, reason): stops a job running here
        self._append = redis.register_script(APPEND_SCRIPT)
        self._end = redis.register_script(END_SCRIPT)
        self._writes: list[_Write] = []
        self._fenced: set[str] = set()  # jobs here whose stream another process ended (worker_lost)
        # Jobs whose hash is still being created: their writes wait, or the fencing scripts would
        # find no owner and take them for fenced (a connection retried after a restart is slower
        # than the job's first print).
        self._held: set[str] = set()
        self._wanted = asyncio.Event()
        self._closing = False

    def event(self, job_id: str, entry: Entry, first_kept: int) -> None:
        """Queue one logged entry of a job running here (``first_kept``: the oldest its log still holds)."""
        if job_id in self._fenced:
            return
        self._writes.append(("event", job_id, (entry, first_kept)))
        if len(self._writes) > MAX_PENDING_WRITES:
            self._drop_oldest_progress()
        self._wanted.set()

    def end(self, info: JobInfo) -> None:
        """Queue the end of a job running here."""
        if info.id not in self._fenced:
            self._writes.append(("end", info.id, info))
            self._wanted.set()

    def hold(self, job_id: str) -> None:
        """Keep ``job_id``'s writes queued until ``release``: its hash is not written yet."""
        self._held.add(job_id)

    def release(self, job_id: str, *, created: bool) -> None:
        """The job's hash is written (its writes go), or could not be (they are dropped)."""
        self._held.discard(job_id)
        if created:
            self._wanted.set()
        else:
            self._fenced.add(job_id)
            self._writes = [w for w in self._writes if w[1] != job_id]

    def _drop_oldest_progress(self) -> None:
        """Keep the queue of writes bounded: drop its oldest progress (never an end)."""
        for index, (kind, _, value) in enumerate(self._writes):
            if kind == "event" and not isinstance(value[0].event, (Complete, Error)):
                del self._writes[index]
                return

    def close(self) -> None:
        """Send what is queued, then let ``run`` return."""
        self._closing = True
        self._wanted.set()

    async def run(self) -> None:
        """The writer task: everything queued since the last round trip, in one pipeline, in order."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            if not self._health.healthy and not self._closing:
                continue  # the lease keeper wakes this writer when Redis answers again
            failed = False
            try:
                await self._flush()
            except (RedisError, OSError) as exc:
                failed = True
                if is_outage(exc):
                    self._health.unavailable(exc)
                else:
                    logger.exception("redis refused a job's write")
            if self._closing:
                # (Writes of a job still being created are not waited for: the process is going.)
                if failed or all(w[1] in self._held for w in self._writes):
                    return
                # What was queued while the last round trip was under way (a job's end, often).
                self._wanted.set()

    async def _flush(self) -> None:
        """Write what is queued, in order, in one round trip; put it back if Redis fails.

        A write that fails midway is retried whole: an append that had gone through is
        recognised by its stream id (and appends the answer only once).
        """
        writes = [w for w in self._writes if w[1] not in self._held]
        if not writes:
            return
        self._writes = [w for w in self._writes if w[1] in self._held]
        pipe = self._redis.pipeline(transaction=False)
        retention = str(max(1, int(self._limits.retention)))
        for kind, job_id, value in writes:
            if kind == "event":
                keys = [job_key(job_id), events_key(job_id), answer_key(job_id)]
                entry, first_kept = value
                fields = [part for pair in encode(entry.event).items() for part in pair]
                await self._append(keys, [self.owner, entry.seq, first_kept, int(RUNNING_TTL_S), *fields],
                                   client=pipe)  # (queued on the pipeline: no round trip)
            else:
                info: JobInfo = value
                # The answer whole (a job read directly had none of its events copied).
                await self._end(lost_keys(job_id), [
                    self.owner, retention, info.status, repr(info.finished or time.time()),
                    terminal_json(info.terminal), info.last_seq, info.answer, job_id], client=pipe)
        try:
            results = await pipe.execute(raise_on_error=False)
        except BaseException:
            self._writes[:0] = writes
            raise
        failed: BaseException | None = None
        for (_, job_id, _), result in zip(writes, results, strict=True):
            if isinstance(result, Exception):
                failed = failed or result
            elif result == 0 and job_id not in self._fenced:
                self._fence(job_id)
        if failed is not None and is_outage(failed):
            # Retried whole once Redis takes writes again (what went through is recognised).
            self._writes[:0] = [w for w in writes if w[1] not in self._fenced]
            raise failed
        if failed is not None:
            raise failed

    def _fence(self, job_id: str) -> None:
        """Another process ended this job (its owner -- this process -- looked lost): stop it here."""
        logger.warning("job %s: ended elsewhere as worker_lost while this process was unreachable; stopping it",
                       job_id)
        self._fenced.add(job_id)
        self._writes = [w for w in self._writes if w[1] != job_id]
        self._stop_job(job_id, "worker_lost")

    async def renew_lease(self) -> None:
        await self._redis.set(lease_key(self.owner), "1", px=int(LEASE_S * 1000))

    async def keep_lease(self) -> None:
        """The lease task: renew it; while Redis is down, try again every second."""
        health = self._health
        while True:
            try:
                await self.renew_lease()
                if not health.healthy:
                    logger.warning("redis available again")
                    health.healthy = True
                    self._wanted.set()  # what waited for Redis, ends first of all
            except (RedisError, OSError) as exc:
                health.unavailable(exc)
            await asyncio.sleep(RENEW_S if health.healthy else 1.0)
