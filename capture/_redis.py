"""A job registry shared through Redis Streams: any process serves any job.

Each process runs its own jobs exactly as ``MemoryJobRegistry`` does (its readers
read them from memory, with no Redis round trip per event) and copies them out:

- ``cs:job:<id>`` (hash): model, owner, created, status, finished, the terminal
  event, tags. Written when a job starts (before ``start`` returns, so any
  process answers for it at once) and when it ends.
- ``cs:job:<id>:events`` (stream): one entry per event, whose id is
  ``0-<seq>``: a retried append cannot duplicate an event, and a
  ``Last-Event-ID`` maps 1:1 to a stream position. Trimmed like the owner's own
  log (``log_events`` and ``log_chars``): each append carries ``MINID`` set to the
  oldest event that log still holds.
- ``cs:job:<id>:answer`` (string): the answer so far, for ``GET /v1/jobs/{id}``.
- ``cs:lease:<process>``: the owner's lease, renewed every 2 s, gone 10 s after the
  process dies. A reader elsewhere that finds its job's owner without a lease
  ends the job's stream with a ``worker_lost`` error, for every reader.
- ``cs:job:<id>:readers``: set (with a short expiry) by processes whose clients
  read the job, so that its owner does not abandon a job read elsewhere.
- ``cs:control`` (pub/sub): ``DELETE`` on any process reaches the owner.

Readers of jobs run elsewhere catch up with ``XRANGE`` and then follow the live
tail through one reader task per process, which reads every followed stream with
one blocking ``XREAD`` (not one connection per open stream). Every key expires
``retention`` seconds after its job ended.

If Redis cannot be reached, new jobs are refused (``StoreUnavailable``: 503),
the jobs running here are stopped with a ``store_unavailable`` error, readers of
remote jobs get the same error, and the registry checks every second until Redis
answers again; nothing needs restarting.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._events import Complete, Content, Entry, Error, Event, Gap, JobInfo, JobStatus, Progress, Terminal, status_of
from ._job import Job
from ._limits import Limits
from ._registry import MemoryJobRegistry, StoreUnavailable, UnknownJob
from ._text import ProgressUpdate

__all__ = ("RedisJobRegistry",)

logger = logging.getLogger("capture")

PREFIX = "cs:"
LEASE_S = 8.0  # a process whose lease is this old is gone
RENEW_S = 2.0
READERS_TTL_S = 3.0
TAIL_BLOCK_MS = 100  # a new follower waits at most this long to be included in the shared read
LIVENESS_CHECK_S = 1.0
CATCH_UP_BATCH = 500
MAX_CONNECTIONS = 16
RUNNING_TTL_S = 24 * 3600.0  # keys of a job whose owner vanished without a trace still expire


# Connections pooled from before a Redis restart are dead: each fails once, and would take
# every job of this process with it. A command that fails to connect or times out is retried
# (three times, 50-400 ms apart) on a fresh connection before Redis is deemed unavailable;
# idle connections are checked before use.
_CONNECTION: dict[str, Any] = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "retry": Retry(ExponentialBackoff(cap=0.4, base=0.05), 3),
    "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    "health_check_interval": 5,
}


def _job_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}"


def _events_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}:events"


def _answer_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}:answer"


def _readers_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}:readers"


def _lease_key(owner: str) -> str:
    return f"{PREFIX}lease:{owner}"


CONTROL = f"{PREFIX}control"

# Writes that change a job go through these scripts, so that they take effect only while
# the writer is still the job's owner: once a reader elsewhere has written ``worker_lost``
# (the owner's lease ran out, say while it was paused with SIGSTOP), the owner field says
# so and the old owner's later writes are refused -- it learns it was fenced and stops the
# job. Without this, an owner that woke up appended events after the terminal one and
# turned a failed job back into a complete one.
#
# KEYS: job hash, events stream, answer. ARGV: owner, seq, first kept seq, running ttl,
# then the event's fields. Returns 1 (appended, or there already: a retried append), 0 (fenced).
_APPEND = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
local added = redis.pcall('XADD', KEYS[2], 'MINID', '=', '0-' .. ARGV[3], '0-' .. ARGV[2], unpack(fields))
if type(added) == 'table' and added.err then
  if string.find(added.err, 'equal or smaller', 1, true) then return 1 end
  return added
end
if ARGV[2] == '1' then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
if fields[2] == 'c' then redis.call('APPEND', KEYS[3], fields[4]) end
return 1
"""

# The owner's record of its job's end. ARGV: owner, retention, status, finished, terminal,
# last_seq, answer ('' to keep what the appends built). Returns 1, or 0 when fenced.
_END = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'finished', ARGV[4], 'terminal', ARGV[5], 'last_seq', ARGV[6])
if ARGV[7] ~= '' then redis.call('SET', KEYS[3], ARGV[7]) end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return 1
"""

# A reader elsewhere ends a job whose owner is gone. ARGV: the owner it found, retention,
# finished, the error's message, the terminal as JSON. Nothing happens if the owner changed
# or the job ended meanwhile, or if the stream already ends with a terminal event (the
# owner's end record was on its way). Returns the seq of ``worker_lost``, or 0.
_LOST = """
local job = redis.call('HMGET', KEYS[1], 'owner', 'finished')
if job[1] ~= ARGV[1] or (job[2] and job[2] ~= '') then return 0 end
local seq = 0
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #last > 0 then
  seq = tonumber(string.match(last[1][1], '-(%d+)$'))
  local f = last[1][2]
  for i = 1, #f, 2 do
    if f[i] == 'k' and (f[i + 1] == 'd' or f[i + 1] == 'e') then return 0 end
  end
end
seq = seq + 1
redis.call('XADD', KEYS[2], '0-' .. seq, 'k', 'e', 't', ARGV[4], 'kind', 'worker_lost')
redis.call('HSET', KEYS[1], 'owner', 'lost:' .. ARGV[1], 'status', 'failed', 'finished', ARGV[3],
           'terminal', ARGV[5], 'last_seq', seq)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return seq
"""

# Replies that mean Redis cannot take this work now (it is loading, out of memory, a
# read-only replica, failing to persist): an outage, as a refused connection is. Any other
# error reply is a bad command -- this request's bug, which must not stop every job here.
_OUTAGE_REPLIES = ("OOM ", "LOADING", "READONLY", "MISCONF", "BUSY", "MASTERDOWN", "NOREPLICAS", "CLUSTERDOWN")


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, ResponseError):
        return str(exc).startswith(_OUTAGE_REPLIES)
    return isinstance(exc, (RedisError, OSError))

# While Redis refuses writes, what the jobs here log waits for it, up to this many entries;
# beyond, the oldest progress is dropped (readers get a ``gap``), never a terminal event
# nor a job's end record.
MAX_PENDING_WRITES = 20_000


def _encode(event: Event) -> dict[str, str]:
    if isinstance(event, ProgressUpdate):
        return {"k": "u", "t": event.text}
    if isinstance(event, Progress):
        return {"k": "p", "t": event.text}
    if isinstance(event, Content):
        return {"k": "c", "t": event.text}
    if isinstance(event, Complete):
        return {"k": "d", "t": json.dumps(event.results, default=str)}
    return {"k": "e", "t": event.message, "kind": event.kind}


def _decode(fields: dict[bytes, bytes]) -> Event:
    kind = fields.get(b"k", b"").decode()
    text = fields.get(b"t", b"").decode("utf-8", "replace")
    if kind == "p":
        return Progress(text)
    if kind == "u":
        return ProgressUpdate(text)
    if kind == "c":
        return Content(text)
    if kind == "d":
        return Complete(json.loads(text))
    return Error(text, fields.get(b"kind", b"job_error").decode())


def _terminal_json(terminal: Terminal | None) -> str:
    return json.dumps(_encode(terminal)) if terminal is not None else ""


def _terminal_from_json(raw: str) -> Terminal | None:
    if not raw:
        return None
    event = _decode({key.encode(): value.encode() for key, value in json.loads(raw).items()})
    return event if isinstance(event, (Complete, Error)) else None


def _seq(stream_id: bytes) -> int:
    return int(stream_id.split(b"-")[1])


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
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # Typed as Any: redis-py annotates every reply as the union of all its decoding modes,
        # which no caller can use as is; replies here are bytes (decode_responses is off).
        # A bounded pool that waits for a free connection: a burst of a thousand new jobs must
        # not open a thousand connections (Redis refuses clients beyond its file limit).
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=5, **_CONNECTION)
        self._redis: Any = aioredis.Redis(connection_pool=pool)
        # The shared tail read blocks, and pub/sub holds its connection: their own pool.
        self._tail_redis: Any = aioredis.Redis.from_url(url, **_CONNECTION)
        self._on_finish = on_finish
        self.local = MemoryJobRegistry(
            self.limits, echo=echo, on_finish=self._local_ended, on_entry=self._copy_out,
            still_wanted=self._read_elsewhere,
        )
        self.healthy = True
        self._append = self._redis.register_script(_APPEND)
        self._end = self._redis.register_script(_END)
        self._lost = self._redis.register_script(_LOST)
        self._writes: list[tuple[Any, ...]] = []
        self._fenced: set[str] = set()  # jobs here whose stream another process ended (worker_lost)
        self._lease_missing: dict[str, float] = {}  # owner -> when a reader here first found no lease
        self._write_wanted = asyncio.Event()
        self._followers: dict[str, set[_Follower]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._tail_changed = asyncio.Event()
        self._closing = False

    # -- life --------------------------------------------------------------------------

    async def open(self) -> None:
        """Check that Redis answers (raises ``StoreUnavailable``), then start the background tasks."""
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from None
        await self._renew_lease()
        loop = asyncio.get_running_loop()
        for name, work in (
            ("redis-writer", self._writer),
            ("redis-lease", self._lease_keeper),
            ("redis-tail", self._tail),
            ("redis-control", self._control),
        ):
            self._tasks.append(loop.create_task(work(), name=name))

    async def aclose(self) -> None:
        await self.local.aclose()
        # The writer copies out what the jobs' ends queued, then returns by itself.
        self._closing = True
        self._write_wanted.set()
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
            await asyncio.wait_for(self._redis.delete(_lease_key(self.owner)), 2)
        await self._redis.aclose(close_connection_pool=True)
        await self._tail_redis.aclose()

    def health(self) -> dict[str, str]:
        return {"registry": "redis", "redis": "ok" if self.healthy else "unavailable"}

    def _unavailable(self, exc: BaseException) -> None:
        """Redis failed: refuse new jobs, stop ours, tell remote readers; recover by itself.

        What the jobs here wrote and have not copied out yet stays queued (their ends
        included), and is written as soon as Redis takes writes again: other processes
        then see these jobs end instead of "running" until their keys expire.
        """
        if self.healthy:
            logger.error("redis unavailable: %s", exc)
        self.healthy = False
        self.local.cancel_all("store_unavailable")
        for followers in self._followers.values():
            for follower in followers:
                follower.fail(Error(_STORE_DOWN, "store_unavailable"))

    # -- starting and stopping --------------------------------------------------------------

    async def start(
        self, job: Callable[[], Any], model: str, *, resumable: bool = True, tags: dict[str, str] | None = None
    ) -> JobInfo:
        if not self.healthy:
            raise StoreUnavailable("redis unavailable")
        handle = self.local.start_job(job, model, resumable=resumable, tags=tags)
        info = handle.info()
        try:
            pipe = self._redis.pipeline(transaction=False)
            # The lease with the job: a Redis restarted empty since the last renewal would
            # otherwise make this job look lost to a reader elsewhere.
            pipe.set(_lease_key(self.owner), "1", px=int(LEASE_S * 1000))
            pipe.hset(_job_key(info.id), mapping={
                "model": model, "owner": self.owner, "created": repr(info.created), "status": info.status,
                "tags": json.dumps(dict(info.tags)), "resumable": "1" if resumable else "0",
            })
            pipe.expire(_job_key(info.id), int(RUNNING_TTL_S))
            await pipe.execute()
        except (RedisError, OSError) as exc:
            handle.cancel("store_unavailable")
            if _is_outage(exc):
                self._unavailable(exc)
            raise StoreUnavailable(str(exc)) from None
        return info

    async def cancel(self, job_id: str, reason: str = "cancelled", wait: float = 2.0) -> JobInfo | None:
        if self.local.get(job_id) is not None:
            return await self.local.cancel(job_id, reason, wait)
        info = await self.status(job_id)
        if info is None or info.finished is not None:
            return info
        await self._redis.publish(CONTROL, json.dumps({"cancel": job_id, "reason": reason}))
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio.timeout(wait):
                async for _ in self.entries(job_id, info.last_seq):
                    pass  # until its terminal event
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

    # -- copying local jobs out ---------------------------------------------------------------

    def _copy_out(self, job: Job, entry: Entry) -> None:
        """Called for each entry a resumable job here logs: queue its copy for the writer."""
        if job.id in self._fenced:
            return
        self._writes.append(("event", job.id, (entry, job.first_kept_seq)))
        if len(self._writes) > MAX_PENDING_WRITES:
            self._drop_oldest_progress()
        self._write_wanted.set()

    def _local_ended(self, info: JobInfo) -> None:
        if self._on_finish is not None:
            self._on_finish(info)
        if info.id not in self._fenced:
            self._writes.append(("end", info.id, info))
            self._write_wanted.set()

    def _drop_oldest_progress(self) -> None:
        """Keep the queue of writes bounded: drop its oldest progress (never an end)."""
        for index, (kind, _, value) in enumerate(self._writes):
            if kind == "event" and not isinstance(value[0].event, (Complete, Error)):
                del self._writes[index]
                return

    async def _writer(self) -> None:
        """Everything queued since the last round trip, in one pipeline, in order."""
        while True:
            await self._write_wanted.wait()
            self._write_wanted.clear()
            if not self.healthy and not self._closing:
                continue  # the lease keeper wakes this writer when Redis answers again
            try:
                await self._flush()
            except (RedisError, OSError) as exc:
                if _is_outage(exc):
                    self._unavailable(exc)
                else:
                    logger.exception("redis refused a job's write")
            if self._closing:
                return

    async def _flush(self) -> None:
        """Write what is queued, in order, in one round trip; put it back if Redis fails.

        A write that fails midway is retried whole: an append that had gone through is
        recognised by its stream id (and appends the answer only once).
        """
        if not self._writes:
            return
        writes, self._writes = self._writes, []
        pipe = self._redis.pipeline(transaction=False)
        retention = str(max(1, int(self.limits.retention)))
        for kind, job_id, value in writes:
            keys = [_job_key(job_id), _events_key(job_id), _answer_key(job_id)]
            if kind == "event":
                entry, first_kept = value
                fields = [part for pair in _encode(entry.event).items() for part in pair]
                await self._append(keys, [self.owner, entry.seq, first_kept, int(RUNNING_TTL_S), *fields],
                                   client=pipe)  # (queued on the pipeline: no round trip)
            else:
                info: JobInfo = value
                # The answer whole (a job read directly had none of its events copied).
                await self._end(keys, [self.owner, retention, info.status, repr(info.finished or time.time()),
                                 _terminal_json(info.terminal), info.last_seq, info.answer], client=pipe)
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
        if failed is not None and _is_outage(failed):
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
        job = self.local.get(job_id)
        if job is not None:
            job.cancel("worker_lost")

    async def _renew_lease(self) -> None:
        await self._redis.set(_lease_key(self.owner), "1", px=int(LEASE_S * 1000))

    async def _lease_keeper(self) -> None:
        """Renew this process's lease; while Redis is down, try again every second."""
        while True:
            try:
                await self._renew_lease()
                if not self.healthy:
                    logger.warning("redis available again")
                    self.healthy = True
                    self._write_wanted.set()  # what waited for Redis, ends first of all
            except (RedisError, OSError) as exc:
                self._unavailable(exc)
            await asyncio.sleep(RENEW_S if self.healthy else 1.0)

    async def _control(self) -> None:
        """Cancels asked for on other processes, for jobs running here."""
        while True:
            try:
                async with self._tail_redis.pubsub() as pubsub:
                    await pubsub.subscribe(CONTROL)
                    # (Re)subscribed: Redis may have restarted empty. Re-assert the lease now,
                    # not at the next renewal, so that no reader takes this process for lost.
                    with contextlib.suppress(RedisError, OSError):
                        await self._renew_lease()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        order = json.loads(message["data"])
                        job = self.local.get(str(order.get("cancel")))
                        if job is not None:
                            job.cancel(str(order.get("reason") or "cancelled"))
            except (RedisError, OSError):
                await asyncio.sleep(1.0)

    async def _read_elsewhere(self, job_id: str) -> bool:
        """Does a process other than this one have a reader for ``job_id``?"""
        return bool(await self._redis.exists(_readers_key(job_id)))

    # -- reading ---------------------------------------------------------------------------

    async def status(self, job_id: str) -> JobInfo | None:
        local = await self.local.status(job_id)
        if local is not None:
            return local
        return await self._remote_status(job_id, check_owner=True)

    async def _remote_status(self, job_id: str, *, check_owner: bool) -> JobInfo | None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(_job_key(job_id))
        pipe.get(_answer_key(job_id))
        pipe.xrevrange(_events_key(job_id), count=1)
        fields, answer, last = await pipe.execute(raise_on_error=False)
        for reply in (fields, answer, last):
            if isinstance(reply, Exception) and _is_outage(reply):
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
            return await self._remote_status(job_id, check_owner=False)
        terminal = _terminal_from_json(values.get("terminal", ""))
        finished = float(values["finished"]) if values.get("finished") else None
        if terminal is None and last:
            # The owner logged its terminal event, and its end record has not arrived (yet).
            event = _decode(last[0][1])
            if isinstance(event, (Complete, Error)):
                terminal, finished = event, finished or time.time()
        status: JobStatus = status_of(terminal) if terminal is not None else (
            "queued" if values.get("status") == "queued" else "running"
        )
        last_seq = max(int(values.get("last_seq") or 0), _seq(last[0][0]) if last else 0)
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

    def entries(self, job_id: str, after: int = 0) -> AsyncIterator[Entry | Gap]:
        if self.local.get(job_id) is not None:
            return self.local.entries(job_id, after)  # from memory, no Redis round trip per event
        return self._remote_entries(job_id, after)

    async def _remote_entries(self, job_id: str, after: int) -> AsyncIterator[Entry | Gap]:
        if not self.healthy:
            yield Entry(after + 1, Error(_STORE_DOWN, "store_unavailable"))
            return
        try:
            if not await self._redis.exists(_job_key(job_id)):
                raise UnknownJob(job_id)
            position = after
            first = True
            while True:  # catch up with what the stream holds
                rows = await self._redis.xrange(_events_key(job_id), min=f"(0-{position}", max="+",
                                                count=CATCH_UP_BATCH)
                for stream_id, fields in rows:
                    seq = _seq(stream_id)
                    if first and seq > position + 1:
                        yield Gap(position + 1, seq - 1)
                    first = False
                    event = _decode(fields)
                    yield Entry(seq, event)
                    position = seq
                    if isinstance(event, (Complete, Error)):
                        return
                if len(rows) < CATCH_UP_BATCH:
                    break
        except (RedisError, OSError) as exc:
            if not _is_outage(exc):  # this reader's error, not every job's
                logger.error("redis refused to read job %s: %s", job_id, exc)
                yield Entry(after + 1, Error(_READ_REFUSED, "store_error"))
                return
            self._unavailable(exc)
            yield Entry(after + 1, Error(_STORE_DOWN, "store_unavailable"))
            return
        follower = _Follower(job_id, position)
        self._followers.setdefault(job_id, set()).add(follower)
        self._tail_changed.set()
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
                    self._tail_changed.set()  # the shared read includes this follower again
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

    async def _tail(self) -> None:
        """One blocking read for every remote job this process's clients follow."""
        last_check = 0.0
        while True:
            if not self._followers or not self.healthy:
                self._tail_changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._tail_changed.wait(), 1.0)
                continue
            streams = {
                _events_key(job_id): f"0-{min(f.fetched for f in wanting)}"
                for job_id, followers in self._followers.items()
                if (wanting := [f for f in followers if f.has_room()])
            }
            if not streams:  # every follower's buffer is full: wait until one takes some
                self._tail_changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._tail_changed.wait(), 1.0)
                continue
            try:
                rows = await self._tail_redis.xread(streams, count=CATCH_UP_BATCH, block=TAIL_BLOCK_MS)
                for key, items in rows or []:
                    job_id = key.decode().removeprefix(f"{PREFIX}job:").removesuffix(":events")
                    entries = [Entry(_seq(stream_id), _decode(fields)) for stream_id, fields in items]
                    for follower in self._followers.get(job_id, ()):
                        if follower.has_room():
                            follower.put(entries)
                if time.monotonic() - last_check > LIVENESS_CHECK_S:
                    last_check = time.monotonic()
                    await self._check_owners()
            except (RedisError, OSError) as exc:
                if _is_outage(exc):
                    self._unavailable(exc)
                else:
                    logger.exception("redis refused the shared tail read")
                    await asyncio.sleep(1.0)

    async def _check_owners(self) -> None:
        """Mark the followed jobs as read here, and end those whose owner's lease is gone."""
        job_ids = list(self._followers)
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.set(_readers_key(job_id), "1", px=int(READERS_TTL_S * 1000))
            pipe.hmget(_job_key(job_id), ["owner", "finished"])
        results = await pipe.execute()
        for job_id, (owner, finished) in zip(job_ids, results[1::2], strict=True):
            if finished or owner is None or owner.startswith(b"lost:"):
                continue
            if await self._owner_gone(owner.decode()):
                await self._worker_lost(job_id, owner.decode())

    async def _owner_gone(self, owner: str) -> bool:
        """Is ``owner``'s lease gone, and has it had a full renewal period to come back?

        A lease can vanish with its owner alive: Redis restarted empty, say. The owner
        re-asserts it at once, or at its next renewal; only a lease still missing a
        renewal period after it was first found missing means the owner is gone.
        """
        if owner == self.owner:
            return False
        if await self._redis.exists(_lease_key(owner)):
            self._lease_missing.pop(owner, None)
            return False
        now = time.monotonic()
        first_seen = self._lease_missing.setdefault(owner, now)
        if len(self._lease_missing) > 1024:  # owners found missing once and never checked again
            self._lease_missing = {o: t for o, t in self._lease_missing.items() if now - t < 60}
        return now - first_seen >= RENEW_S * 1.5

    async def _worker_lost(self, job_id: str, owner: str) -> None:
        """The owner died: append the terminal ``worker_lost`` event (once, whoever gets there first)."""
        error = Error(
            "The server process running this job stopped unexpectedly; the job was lost. Please start it again.",
            kind="worker_lost",
        )
        keys = [_job_key(job_id), _events_key(job_id), _answer_key(job_id)]
        seq = await self._lost(keys, [owner, max(1, int(self.limits.retention)), repr(time.time()), error.message,
                                      _terminal_json(error)])
        if seq:
            logger.warning("job %s: its process is gone (worker_lost)", job_id)


_STORE_DOWN = "The job store (Redis) is unavailable; the stream ends here. Please try again in a moment."
_READ_REFUSED = "The job store could not read this job's events; the stream ends here."
