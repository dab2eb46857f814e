"""The job queue of ``JOB_WORKERS=remote``: what web processes enqueue and workers take, in Redis.

A job to run is an entry of the stream ``cs:queue``, read by the consumer group
``workers`` (``XREADGROUP``); its description (model, input text, retries) is in its
job hash, written in the same script.  Admission is global: ``cs:admitted`` holds
every job admitted and not ended, ``cs:waiting`` those of them no worker has taken
yet.  A job is refused (429) when ``MAX_CONCURRENT_JOBS + MAX_QUEUED_JOBS`` are
admitted, whichever process asks; a worker takes a job only while fewer than
``MAX_CONCURRENT_JOBS`` run, on all workers together.  Each check and its change are
one Lua script, so two processes never both take the last place.

An entry is acknowledged (``XACK``) by the script that ends its job (``END_SCRIPT``,
``LOST_SCRIPT`` in ``_redis_format.py``, or ``CANCEL_QUEUED_SCRIPT`` here), never
before: an entry whose worker died stays pending, and another worker finds it
(``XAUTOCLAIM``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from ._events import Error, status_of
from ._limits import Limits
from ._redis_format import (
    ADMITTED,
    GROUP,
    QUEUE,
    RUNNING_TTL_S,
    WAITING,
    events_key,
    job_key,
    lost_keys,
    terminal_json,
)

__all__ = (
    "CLAIM_SCRIPT",
    "ENQUEUE_SCRIPT",
    "START_MESSAGE",
    "JobSpec",
    "cancel_queued",
    "enqueue",
    "ensure_group",
)

QUEUE_MAXLEN = 10_000  # entries the queue stream keeps (approximately); far above every admitted job
WAITING_MESSAGE = "Waiting for a free worker: "
START_MESSAGE = "A worker is free: starting.\n"

# KEYS: job hash, events, admitted, waiting, queue. ARGV: job id, most admitted, most
# running, score, model, created, tags, resumable, retries, input, running ttl, waiting
# message. Returns {-1, running, waiting} (refused), else {1 if it waits, running, waiting}.
ENQUEUE_SCRIPT = """
local admitted = redis.call('ZCARD', KEYS[3])
local waiting = redis.call('ZCARD', KEYS[4])
local running = admitted - waiting
if admitted >= tonumber(ARGV[2]) then return {-1, running, waiting} end
local entry = redis.call('XADD', KEYS[5], 'MAXLEN', '~', '""" + str(QUEUE_MAXLEN) + """', '*', 'job', ARGV[1])
redis.call('HSET', KEYS[1], 'model', ARGV[5], 'owner', '', 'created', ARGV[6], 'status', 'queued', 'tags', ARGV[7],
           'resumable', ARGV[8], 'retries', ARGV[9], 'input', ARGV[10], 'attempts', 0, 'entry', entry)
redis.call('EXPIRE', KEYS[1], ARGV[11])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
if running + waiting >= tonumber(ARGV[3]) then
  redis.call('XADD', KEYS[2], '0-1', 'k', 'p', 't', ARGV[12] .. waiting .. ' ahead.\\n')
  redis.call('EXPIRE', KEYS[2], ARGV[11])
  redis.call('HSET', KEYS[1], 'waited', '1', 'last_seq', 1)
  return {1, running, waiting + 1}
end
return {0, running, waiting + 1}
"""

# A worker takes a job. KEYS: job hash, events, admitted, waiting. ARGV: the worker, most
# running, job id, start message. Returns {last seq in its stream, attempt}, or {-1} (all
# places taken: try again), {-2} (gone or ended: acknowledge), {-3} (another took it).
CLAIM_SCRIPT = """
local job = redis.call('HMGET', KEYS[1], 'owner', 'finished', 'waited')
if not job[1] then return {-2} end
if job[2] and job[2] ~= '' then return {-2} end
if job[1] ~= '' then return {-3} end
if redis.call('ZCARD', KEYS[3]) - redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[2]) then return {-1} end
redis.call('ZREM', KEYS[4], ARGV[3])
local seq = 0
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #last > 0 then seq = tonumber(string.match(last[1][1], '-(%d+)$')) end
if job[3] == '1' then
  seq = seq + 1
  redis.call('XADD', KEYS[2], '0-' .. seq, 'k', 'p', 't', ARGV[4])
  redis.call('HDEL', KEYS[1], 'waited')
end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'status', 'running', 'last_seq', seq)
return {seq, attempt}
"""

# A job cancelled before any worker took it ends where it waits. KEYS: ``lost_keys``.
# ARGV: retention, finished, message, kind, status, terminal, job id. Returns its
# terminal event's seq, or 0 (a worker has it, or it ended).
CANCEL_QUEUED_SCRIPT = """
local job = redis.call('HMGET', KEYS[1], 'owner', 'finished')
if job[1] ~= '' or (job[2] and job[2] ~= '') then return 0 end
local seq = 0
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #last > 0 then seq = tonumber(string.match(last[1][1], '-(%d+)$')) end
seq = seq + 1
redis.call('XADD', KEYS[2], '0-' .. seq, 'k', 'e', 't', ARGV[3], 'kind', ARGV[4])
redis.call('HSET', KEYS[1], 'owner', 'cancelled', 'status', ARGV[5], 'finished', ARGV[2], 'terminal', ARGV[6],
           'last_seq', seq)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
redis.call('ZREM', KEYS[4], ARGV[7]); redis.call('ZREM', KEYS[5], ARGV[7])
local entry = redis.call('HGET', KEYS[1], 'entry')
if entry then redis.pcall('XACK', KEYS[6], 'workers', entry) end
return seq
"""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a worker needs to build a job: which model, with which input text."""

    model: str
    text: str


async def ensure_group(redis: Any) -> None:
    """The queue and its consumer group, made by whichever process comes first (from the start:
    jobs enqueued before any worker ran are taken too)."""
    try:
        await redis.xgroup_create(QUEUE, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def enqueue(
    script: Any, job_id: str, spec: JobSpec, limits: Limits, *, resumable: bool, tags: dict[str, str], retries: int,
) -> tuple[int, int, int]:
    """Admit and enqueue one job; (1 if it waits for a place, else 0, or -1 if refused; running; waiting)."""
    now = time.time()
    result = await script(
        [job_key(job_id), events_key(job_id), ADMITTED, WAITING, QUEUE],
        [job_id, limits.max_running + limits.max_waiting, limits.max_running, repr(now), spec.model, repr(now),
         json.dumps(tags), "1" if resumable else "0", retries, spec.text, int(RUNNING_TTL_S), WAITING_MESSAGE],
    )
    admitted, running, waiting = (int(value) for value in result)
    return admitted, running, waiting


async def cancel_queued(script: Any, job_id: str, error: Error, retention: float) -> int:
    """End a job no worker has taken yet; its terminal event's seq, or 0 if a worker has it."""
    return int(await script(lost_keys(job_id), [
        max(1, int(retention)), repr(time.time()), error.message, error.kind, status_of(error), terminal_json(error),
        job_id]))
