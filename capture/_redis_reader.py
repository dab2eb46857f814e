"""Reading jobs that run on another process: their status, their events, and the live tail, from Redis.

A reader catches up with ``XRANGE`` from where it resumes, then follows the live
tail through one reader task per process, which reads every followed stream with
one blocking ``XREAD`` (not one connection per open stream) into a bounded buffer per
reader.  That task also marks the followed jobs as read here (so that their owners
do not abandon them) and checks their owners' leases: a job whose owner's lease stays
gone gets a terminal ``worker_lost`` event, for every reader, written once by a
script (whichever process gets there first, never after the job's own terminal
event).  An error reply on one job's keys ends that reader's stream with a clear
error; only an outage (``is_outage``) makes the store unavailable.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError

from ._events import Complete, Content, Entry, Error, Gap, JobInfo, JobStatus, Progress, status_of
from ._limits import Limits
from ._redis_format import (
    CONTROL,
    LOST_SCRIPT,
    RENEW_S,
    RESTART_MESSAGE,
    STORE_DOWN,
    Health,
    answer_key,
    decode,
    events_key,
    is_outage,
    job_key,
    job_of_events_key,
    lease_key,
    lost_keys,
    readers_key,
    seq_of,
    terminal_from_json,
    terminal_json,
)
from ._registry import UnknownJob

__all__ = ("RedisReader",)

logger = logging.getLogger("capture")

READERS_TTL_S = 3.0
TAIL_BLOCK_MS = 100  # a new follower waits at most this long to be included in the shared read
LIVENESS_CHECK_S = 1.0
# The shared tail read names every followed job's stream (its cost grows with them), so while
# events keep coming it is sent at most every 5 ms, gathering what arrived meanwhile: at 1,000
# streams over 2 web processes it took half of their CPU when sent again at once after each reply.
TAIL_MIN_PERIOD_S = 0.005
CATCH_UP_BATCH = 500
_READ_REFUSED = "The job store could not read this job's events; the stream ends here."


# What one remote reader may have fetched and not yet taken: the shared tail stops reading
# for a follower beyond this (it reads on from where that follower is once it takes some),
# so a client that never reads costs a bounded buffer, not a copy of the job's output --
# and its send timeout then cuts it as it would cut a local reader.
FOLLOWER_BUFFER_ENTRIES = 2 * CATCH_UP_BATCH
FOLLOWER_BUFFER_CHARS = 1 << 20


class _Follower:
    """One remote reader's place in the shared tail read, and what was fetched for it."""

    __slots__ = ("buffer", "chars", "error", "fetched", "job_id", "ready")

    def __init__(self, job_id: str, position: int) -> None:
        self.job_id = job_id
        self.fetched = position  # the last seq put in ``buffer``
        self.buffer: collections.deque[Entry] = collections.deque()
        self.chars = 0
        self.error: Error | None = None
        self.ready = asyncio.Event()

    def has_room(self) -> bool:
        return len(self.buffer) < FOLLOWER_BUFFER_ENTRIES and self.chars < FOLLOWER_BUFFER_CHARS

    def put(self, entries: list[Entry]) -> None:
        for entry in entries:
            if entry.seq > self.fetched:
                self.buffer.append(entry)
                self.chars += _size(entry)
                self.fetched = entry.seq
        self.ready.set()

    def fail(self, error: Error) -> None:
        self.error = error
        self.ready.set()

    def take(self) -> Entry:
        entry = self.buffer.popleft()
        self.chars -= _size(entry)
        return entry


def _size(entry: Entry) -> int:
    event = entry.event
    return len(event.text) if isinstance(event, (Progress, Content)) else 64


class RedisReader:
    """This process's readers of jobs run elsewhere, and the one task that follows them all."""

    def __init__(self, redis: Any, tail_redis: Any, owner: str, limits: Limits, health: Health) -> None:
        self._redis = redis
        self._tail_redis = tail_redis  # the blocking tail read holds its connection
        self._owner = owner  # this process: never lost to itself
        self._limits = limits
        self._health = health
        self._lost = redis.register_script(LOST_SCRIPT)
        self._followers: dict[str, set[_Follower]] = {}
        self._lease_missing: dict[str, float] = {}  # owner -> when a reader here first found no lease
        self._changed = asyncio.Event()

    def store_down(self) -> None:
        """Redis failed: every follower's stream ends with a ``store_unavailable`` error."""
        for followers in self._followers.values():
            for follower in followers:
                follower.fail(Error(STORE_DOWN, "store_unavailable"))

    async def status(self, job_id: str, *, check_owner: bool = True) -> JobInfo | None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(job_key(job_id))
        pipe.get(answer_key(job_id))
        pipe.xrevrange(events_key(job_id), count=1)
        fields, answer, last = await pipe.execute(raise_on_error=False)
        for reply in (fields, answer, last):
            if isinstance(reply, Exception) and is_outage(reply):
                raise reply
        if isinstance(fields, Exception):
            raise fields
        if isinstance(answer, Exception) or isinstance(last, Exception):
            # A key of the wrong type, say: the job is there; its reader will be told.
            logger.error("redis refused part of job %s's status: %s", job_id, answer if isinstance(
                answer, Exception) else last)
            answer = answer if not isinstance(answer, Exception) else None
            last = last if not isinstance(last, Exception) else []
        if not fields:
            return None
        values = {key.decode(): value.decode("utf-8", "replace") for key, value in fields.items()}
        owner = values.get("owner")
        if check_owner and not values.get("finished") and owner and await self._owner_gone(owner):
            # Its process died: say so now, not only once a reader comes by.
            await self._worker_lost(job_id, owner)
            return await self.status(job_id, check_owner=False)
        terminal = terminal_from_json(values.get("terminal", ""))
        finished = float(values["finished"]) if values.get("finished") else None
        if terminal is None and last:
            # The owner logged its terminal event, and its end record has not arrived (yet).
            event = decode(last[0][1])
            if isinstance(event, (Complete, Error)):
                terminal, finished = event, finished or time.time()
        status: JobStatus = status_of(terminal) if terminal is not None else (
            "queued" if values.get("status") == "queued" else "running"
        )
        last_seq = max(int(values.get("last_seq") or 0), seq_of(last[0][0]) if last else 0)
        return JobInfo(
            id=job_id,
            model=values.get("model", ""),
            status=status,
            created=float(values.get("created") or 0),
            finished=finished,
            last_seq=last_seq,
            answer=(answer or b"").decode("utf-8", "replace"),
            terminal=terminal,
            tags=json.loads(values.get("tags") or "{}"),
        )

    async def cancel_elsewhere(self, job_id: str, reason: str, after: int, wait: float) -> None:
        """Ask the process that runs ``job_id`` to stop it (over pub/sub), then wait up to ``wait``
        seconds for its terminal event to come through."""
        await self._redis.publish(CONTROL, json.dumps({"cancel": job_id, "reason": reason}))
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio.timeout(wait):
                async for _ in self.entries(job_id, after):
                    pass  # until its terminal event

    async def entries(self, job_id: str, after: int) -> AsyncIterator[Entry | Gap]:
        """The job's events after ``after``: what the stream holds, then its live tail; raises ``UnknownJob``."""
        if not self._health.healthy:
            yield Entry(after + 1, Error(STORE_DOWN, "store_unavailable"))
            return
        try:
            if not await self._redis.exists(job_key(job_id)):
                raise UnknownJob(job_id)
            position = after
            first = True
            while True:  # catch up with what the stream holds
                rows = await self._redis.xrange(events_key(job_id), min=f"(0-{position}", max="+",
                                                count=CATCH_UP_BATCH)
                for stream_id, fields in rows:
                    seq = seq_of(stream_id)
                    if first and seq > position + 1:
                        yield Gap(position + 1, seq - 1)
                    first = False
                    event = decode(fields)
                    yield Entry(seq, event)
                    position = seq
                    if isinstance(event, (Complete, Error)):
                        return
                if len(rows) < CATCH_UP_BATCH:
                    break
        except (RedisError, OSError) as exc:
            if not is_outage(exc):  # this reader's error, not every job's
                logger.error("redis refused to read job %s: %s", job_id, exc)
                yield Entry(after + 1, Error(_READ_REFUSED, "store_error"))
                return
            self._health.unavailable(exc)
            yield Entry(after + 1, Error(STORE_DOWN, "store_unavailable"))
            return
        follower = _Follower(job_id, position)
        self._followers.setdefault(job_id, set()).add(follower)
        self._changed.set()
        try:
            while True:
                while not follower.buffer:
                    if follower.error is not None:
                        yield Entry(position + 1, follower.error)
                        return
                    follower.ready.clear()
                    await follower.ready.wait()
                was_full = not follower.has_room()
                entry = follower.take()
                if was_full and follower.has_room():
                    self._changed.set()  # the shared read includes this follower again
                if entry.seq > position + 1:
                    yield Gap(position + 1, entry.seq - 1)
                yield entry
                position = entry.seq
                if isinstance(entry.event, (Complete, Error)):
                    return
        finally:
            followers = self._followers.get(job_id)
            if followers is not None:
                followers.discard(follower)
                if not followers:
                    del self._followers[job_id]

    async def tail(self) -> None:
        """The tail task: one blocking read for every remote job this process's clients follow."""
        last_check = 0.0
        while True:
            if not self._followers or not self._health.healthy:
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 1.0)
                continue
            streams = {
                events_key(job_id): f"0-{min(f.fetched for f in wanting)}"
                for job_id, followers in self._followers.items()
                if (wanting := [f for f in followers if f.has_room()])
            }
            if not streams:  # every follower's buffer is full: wait until one takes some
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 1.0)
                continue
            try:
                began = time.monotonic()
                rows = await self._tail_redis.xread(streams, count=CATCH_UP_BATCH, block=TAIL_BLOCK_MS)
                for key, items in rows or []:
                    job_id = job_of_events_key(key)
                    entries = [Entry(seq_of(stream_id), decode(fields)) for stream_id, fields in items]
                    for follower in self._followers.get(job_id, ()):
                        if follower.has_room():
                            follower.put(entries)
                if time.monotonic() - last_check > LIVENESS_CHECK_S:
                    last_check = time.monotonic()
                    await self._check_owners()
                rest = began + TAIL_MIN_PERIOD_S - time.monotonic()
                if rest > 0 and rows:  # (a read that waited for its events sends the next one at once)
                    await asyncio.sleep(rest)
            except (RedisError, OSError) as exc:
                if is_outage(exc):
                    self._health.unavailable(exc)
                else:
                    logger.exception("redis refused the shared tail read")
                    await asyncio.sleep(1.0)

    async def _check_owners(self) -> None:
        """Mark the followed jobs as read here, and end those whose owner's lease is gone."""
        job_ids = list(self._followers)
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.set(readers_key(job_id), "1", px=int(READERS_TTL_S * 1000))
            pipe.hmget(job_key(job_id), ["owner", "finished"])
        results = await pipe.execute()
        for job_id, (owner, finished) in zip(job_ids, results[1::2], strict=True):
            if finished or not owner or owner.startswith(b"lost:"):  # (no owner yet: queued for a worker)
                continue
            if await self._owner_gone(owner.decode()):
                await self._worker_lost(job_id, owner.decode())

    async def _owner_gone(self, owner: str) -> bool:
        """Is ``owner``'s lease gone, and has it had a full renewal period to come back?

        A lease can vanish with its owner alive: Redis restarted empty, say. The owner
        re-asserts it at once, or at its next renewal; only a lease still missing a
        renewal period after it was first found missing means the owner is gone.
        """
        if owner == self._owner:
            return False
        if await self._redis.exists(lease_key(owner)):
            self._lease_missing.pop(owner, None)
            return False
        now = time.monotonic()
        first_seen = self._lease_missing.setdefault(owner, now)
        if len(self._lease_missing) > 1024:  # owners found missing once and never checked again
            self._lease_missing = {o: t for o, t in self._lease_missing.items() if now - t < 60}
        return now - first_seen >= RENEW_S * 1.5

    async def check_owner(self, job_id: str, owner: str) -> int:
        """If ``owner`` is gone (see ``_owner_gone``), end or requeue ``job_id`` as ``_worker_lost`` does;
        the seq it wrote (negative: ``restarted``), or 0 when nothing was done."""
        if not await self._owner_gone(owner):
            return 0
        return await self._worker_lost(job_id, owner)

    async def _worker_lost(self, job_id: str, owner: str) -> int:
        """The owner died: append the terminal ``worker_lost`` event (once, whoever gets there first)."""
        error = Error(
            "The server process running this job stopped unexpectedly; the job was lost. Please start it again.",
            kind="worker_lost",
        )
        seq = await self._lost(lost_keys(job_id), [
            owner, max(1, int(self._limits.retention)), repr(time.time()), error.message, terminal_json(error),
            RESTART_MESSAGE, job_id])
        if seq > 0:
            logger.warning("job %s: its process is gone (worker_lost)", job_id)
        elif seq < 0:
            logger.warning("job %s: its worker is gone; queued to run again (restarted)", job_id)
        return int(seq)
