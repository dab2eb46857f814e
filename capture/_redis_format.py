"""What the Redis backend keeps where, and how an event is written there: shared by its writer and reader.

- ``cs:job:<id>`` (hash): model, owner, created, status, finished, the terminal
  event, tags. Written when a job starts (before ``start`` returns, so any
  process answers for it at once) and when it ends.
- ``cs:job:<id>:events`` (stream): one entry per event, whose id is
  ``0-<seq>``: a retried append cannot duplicate an event, and a
  ``Last-Event-ID`` maps 1:1 to a stream position. Trimmed like the owner's own
  log (``log_events`` and ``log_chars``): each append carries ``MINID`` set to the
  oldest event that log still holds.
- ``cs:job:<id>:answer`` (string): the answer so far, for ``GET /v1/jobs/{id}``.
- ``cs:lease:<process>``: the owner's lease, renewed every ``RENEW_S`` (2 s), gone
  ``LEASE_S`` (8 s) after the process dies. A reader elsewhere that finds a job's
  owner without a lease for a whole renewal period more ends the job's stream with a
  ``worker_lost`` error, for every reader.
- ``cs:job:<id>:readers``: set (with a short expiry) by processes whose clients
  read the job, so that its owner does not abandon a job read elsewhere.
- ``cs:control`` (pub/sub): ``DELETE`` on any process reaches the owner.
- With ``JOB_WORKERS=remote`` (``_redis_queue.py``): ``cs:queue`` (stream, consumer group
  ``workers``), one entry per job to run; ``cs:admitted`` and ``cs:waiting`` (sorted
  sets): the jobs admitted and not ended, and those of them no worker has taken yet --
  the global admission. A job's end (or loss) removes it from both and acknowledges its
  queue entry, in the same script.

Every key expires ``retention`` seconds after its job ended. Writes that change a job
are Lua scripts that take effect only while the writer still owns the job (fencing).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._events import Complete, Content, Error, Event, Progress, ProgressUpdate, Restarted, Terminal

__all__ = (
    "ADMITTED",
    "APPEND_SCRIPT",
    "CONNECTION",
    "CONTROL",
    "END_SCRIPT",
    "GROUP",
    "LEASE_S",
    "LOST_SCRIPT",
    "QUEUE",
    "RENEW_S",
    "RESTART_MESSAGE",
    "RUNNING_TTL_S",
    "STATS",
    "STORE_DOWN",
    "WAITING",
    "Health",
    "answer_key",
    "decode",
    "encode",
    "events_key",
    "is_outage",
    "job_key",
    "job_of_events_key",
    "lease_key",
    "lost_keys",
    "readers_key",
    "seq_of",
    "terminal_from_json",
    "terminal_json",
)

PREFIX = "cs:"
CONTROL = f"{PREFIX}control"
QUEUE = f"{PREFIX}queue"
GROUP = "workers"
ADMITTED = f"{PREFIX}admitted"
WAITING = f"{PREFIX}waiting"
STATS = f"{PREFIX}stats"  # hash: jobs lost and retried, on all processes
RESTART_MESSAGE = "The worker running this job stopped; the job starts again from the beginning on another worker"
LEASE_S = 8.0  # a process whose lease is this old is gone
RENEW_S = 2.0  # how often a process renews its lease
RUNNING_TTL_S = 24 * 3600.0  # keys of a job whose owner vanished without a trace still expire
STORE_DOWN = "The job store (Redis) is unavailable; the stream ends here. Please try again in a moment."

# Connections pooled from before a Redis restart are dead: each fails once, and would take
# every job of this process with it. A command that fails to connect or times out is retried
# (three times, 50-400 ms apart) on a fresh connection before Redis is deemed unavailable;
# idle connections are checked before use.
CONNECTION: dict[str, Any] = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "retry": Retry(ExponentialBackoff(cap=0.4, base=0.05), 3),
    "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    "health_check_interval": 5,
}


def job_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}"


def events_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}:events"


def job_of_events_key(key: bytes) -> str:
    return key.decode().removeprefix(f"{PREFIX}job:").removesuffix(":events")


def answer_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}:answer"


def readers_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}:readers"


def lease_key(owner: str) -> str:
    return f"{PREFIX}lease:{owner}"


def lost_keys(job_id: str) -> list[str]:
    """The keys of the scripts that end a job (``END_SCRIPT``, ``LOST_SCRIPT``), in their order."""
    return [job_key(job_id), events_key(job_id), answer_key(job_id), ADMITTED, WAITING, QUEUE, STATS]


# A job's end, in remote mode: its admission place is freed and its queue entry acknowledged
# (a job run by a web process itself has neither: these do nothing).
_RELEASE = """
redis.call('ZREM', KEYS[4], ARGV[#ARGV]); redis.call('ZREM', KEYS[5], ARGV[#ARGV])
local entry = redis.call('HGET', KEYS[1], 'entry')
if entry then redis.pcall('XACK', KEYS[6], 'workers', entry) end
"""


# Writes that change a job go through these scripts, so that they take effect only while
# the writer is still the job's owner: once a reader elsewhere has written ``worker_lost``
# (the owner's lease ran out, say while it was paused with SIGSTOP), the owner field says
# so and the old owner's later writes are refused -- it learns it was fenced and stops the
# job. Without this, an owner that woke up appended events after the terminal one and
# turned a failed job back into a complete one.
#
# KEYS: job hash, events stream, answer. ARGV: owner, seq, first kept seq, running ttl,
# then the event's fields. Returns 1 (appended, or there already: a retried append), 0 (fenced).
APPEND_SCRIPT = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
local added = redis.pcall('XADD', KEYS[2], 'MINID', '=', '0-' .. ARGV[3], '0-' .. ARGV[2], unpack(fields))
if type(added) == 'table' and added.err then
  if string.find(added.err, 'equal or smaller', 1, true) then return 1 end
  return added
end
if redis.call('TTL', KEYS[2]) == -1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
if fields[2] == 'c' then redis.call('APPEND', KEYS[3], fields[4]) end
return 1
"""

# The owner's record of its job's end. KEYS: ``lost_keys``. ARGV: owner, retention, status,
# finished, terminal, last_seq, answer ('' to keep what the appends built), job id.
# Returns 1, or 0 when fenced.
END_SCRIPT = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'finished', ARGV[4], 'terminal', ARGV[5], 'last_seq', ARGV[6])
if ARGV[7] ~= '' then redis.call('SET', KEYS[3], ARGV[7]) end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
""" + _RELEASE + """
return 1
"""

# A reader elsewhere ends a job whose owner is gone. KEYS: ``lost_keys``. ARGV: the owner
# it found, retention, finished, the error's message, the terminal as JSON, the restart
# message, the job id. Nothing happens if the owner changed or the job ended meanwhile, or
# if the stream already ends with a terminal event (the owner's end record was on its way).
# A job a worker ran that has retries left (``JOB_RETRY``) is not ended but queued again,
# after one ``restarted`` event; its answer starts afresh. Returns the seq of
# ``worker_lost``, minus that of ``restarted``, or 0.
LOST_SCRIPT = """
local job = redis.call('HMGET', KEYS[1], 'owner', 'finished', 'attempts', 'retries')
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
local attempts, retries = tonumber(job[3] or '0'), tonumber(job[4] or '0')
if attempts > 0 and attempts <= retries then
  local text = ARGV[6] .. ' (attempt ' .. (attempts + 1) .. ' of ' .. (retries + 1) .. ').\\n'
  redis.call('XADD', KEYS[2], '0-' .. seq, 'k', 'r', 't', text)
  redis.call('HSET', KEYS[1], 'owner', '', 'status', 'queued', 'last_seq', seq)
  redis.call('DEL', KEYS[3])
  redis.call('ZADD', KEYS[5], 0, ARGV[#ARGV])
  redis.call('HINCRBY', KEYS[7], 'retried', 1)
  return -seq
end
redis.call('XADD', KEYS[2], '0-' .. seq, 'k', 'e', 't', ARGV[4], 'kind', 'worker_lost')
redis.call('HSET', KEYS[1], 'owner', 'lost:' .. ARGV[1], 'status', 'failed', 'finished', ARGV[3],
           'terminal', ARGV[5], 'last_seq', seq)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
redis.call('HINCRBY', KEYS[7], 'lost', 1)
""" + _RELEASE + """
return seq
"""

# Replies that mean Redis cannot take this work now (it is loading, out of memory, a
# read-only replica, failing to persist): an outage, as a refused connection is. Any other
# error reply is a bad command -- this request's bug, which must not stop every job here.
_OUTAGE_REPLIES = ("OOM ", "LOADING", "READONLY", "MISCONF", "BUSY", "MASTERDOWN", "NOREPLICAS", "CLUSTERDOWN")


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, ResponseError):
        return str(exc).startswith(_OUTAGE_REPLIES)
    return isinstance(exc, (RedisError, OSError))


def encode(event: Event) -> dict[str, str]:
    if isinstance(event, ProgressUpdate):
        return {"k": "u", "t": event.text}
    if isinstance(event, Restarted):
        return {"k": "r", "t": event.text}
    if isinstance(event, Progress):
        return {"k": "p", "t": event.text}
    if isinstance(event, Content):
        return {"k": "c", "t": event.text}
    if isinstance(event, Complete):
        return {"k": "d", "t": json.dumps(event.results, default=str)}
    return {"k": "e", "t": event.message, "kind": event.kind}


def decode(fields: dict[bytes, bytes]) -> Event:
    kind = fields.get(b"k", b"").decode()
    text = fields.get(b"t", b"").decode("utf-8", "replace")
    if kind == "p":
        return Progress(text)
    if kind == "u":
        return ProgressUpdate(text)
    if kind == "r":
        return Restarted(text)
    if kind == "c":
        return Content(text)
    if kind == "d":
        return Complete(json.loads(text))
    return Error(text, fields.get(b"kind", b"job_error").decode())


def terminal_json(terminal: Terminal | None) -> str:
    return json.dumps(encode(terminal)) if terminal is not None else ""


def terminal_from_json(raw: str) -> Terminal | None:
    if not raw:
        return None
    event = decode({key.encode(): value.encode() for key, value in json.loads(raw).items()})
    return event if isinstance(event, (Complete, Error)) else None


def seq_of(stream_id: bytes) -> int:
    """The event sequence number a stream entry id (``0-<seq>``) stands for."""
    return int(stream_id.split(b"-")[1])


class Health(Protocol):
    """The Redis registry's view of the store, shared by its writer and reader."""

    healthy: bool  # Redis answered the last command; False: new jobs are refused, readers told

    def unavailable(self, exc: BaseException) -> None:
        """Redis failed: refuse new jobs, stop this process's jobs, tell remote readers."""
        ...
