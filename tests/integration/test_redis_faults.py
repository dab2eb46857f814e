"""Redis and owner faults, reproduced against real processes sharing a real redis-server.

Each test is one reproduced failure: an owner paused past its lease (``kill -STOP``/``CONT``),
Redis restarted empty, Redis refusing writes (``maxmemory``) or pausing clients
(``CLIENT PAUSE``), and a reader that never reads a chatty job run on another process.
What a user checks in each: exactly one terminal event, always last; no job "running" for ever;
no false ``worker_lost``; memory that stays bounded.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import time
from pathlib import Path

import anyio
import httpx
import pytest
import redis
from httpx_sse import ServerSentEvent

from tests.helpers import ticker
from tests.redis_server import RedisProcess
from tests.server import ServerProcess
from tests.shared_redis import create_job, env, read, ticks

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def seqs(events: list[ServerSentEvent]) -> list[int]:
    return [int(e.id.split(":")[1]) for e in events if e.event != "content"]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def wait_status(http: httpx.AsyncClient, url: str, wanted: set[str], seconds: float) -> dict[str, object]:
    """Poll a job's status until it is one of ``wanted``; fail after ``seconds``."""
    with anyio.fail_after(seconds):
        while True:
            info: dict[str, object] = (await http.get(url)).json()
            if info.get("status") in wanted:
                return info
            await anyio.sleep(0.1)


async def test_an_owner_paused_past_its_lease_is_fenced_one_terminal_event_always_last(
    pair: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as http:
        job = await create_job(http, a.url, ticker(600, 0.05, secrets.token_hex(4)))
        status_on_b = f"{b.url}/v1/jobs/{job['id']}"
        with anyio.fail_after(60):
            first, _ = await read(http, f"{b.url}{job['events_url']}", limit=5)
            os.kill(a.process.pid, signal.SIGSTOP)
            try:
                rest, _ = await read(http, f"{b.url}{job['events_url']}", last_id=first[-1].id)
            finally:
                os.kill(a.process.pid, signal.SIGCONT)
            assert rest[-1].event == "error" and json.loads(rest[-1].data)["kind"] == "worker_lost"
            # The owner wakes up: it must learn it was fenced and stop the job, writing nothing more.
            await wait_status(http, f"{a.url}/v1/jobs/{job['id']}", {"failed", "cancelled"}, 20)
            whole, _ = await read(http, f"{b.url}{job['events_url']}", last_id=f"{job['id']}:0")
            info = (await http.get(status_on_b)).json()
    numbers = seqs(whole)
    terminals = [e for e in whole if e.event in ("complete", "error")]
    assert len(terminals) == 1 and whole[-1] is terminals[0], "exactly one terminal event, and it is last"
    assert json.loads(terminals[0].data)["kind"] == "worker_lost"
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "no event lost before the fence"
    assert ticks(whole) == list(range(len(ticks(whole)))), "ticks in order, none twice"
    assert info["status"] == "failed", "the status never flips back after worker_lost"


async def test_redis_restarted_empty_is_not_mistaken_for_a_lost_owner(
    pair: tuple[ServerProcess, ServerProcess], redis_server: RedisProcess
) -> None:
    a, b = pair
    redis_server.stop()
    redis_server.start()  # empty: every lease is gone, the owners are alive
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(30):
            while (await http.get(f"{a.url}/healthz")).status_code != 200:
                await anyio.sleep(0.05)
            await anyio.sleep(0.15)
            job = await create_job(http, a.url, ticker(40, 0.1, secrets.token_hex(4)))
            events, _ = await read(http, f"{b.url}{job['events_url']}")
    assert events[-1].event == "complete", [(e.event, e.data[:80]) for e in events[-3:]]
    assert ticks(events) == list(range(40))


async def test_jobs_started_as_redis_comes_back_over_dead_connections_are_not_taken_for_fenced(
    pair: tuple[ServerProcess, ServerProcess], redis_server: RedisProcess
) -> None:
    """A job's first print can reach Redis before its record does (the record's connection died
    with the restart and is retried): its events wait for the record, and the job is not stopped."""
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as http:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as burst:  # fill both processes' connection pools
                for i in range(24):
                    burst.start_soon(create_job, http, a.url if i % 2 else b.url, ticker(1, 0, f"w{i}"))
            redis_server.stop()
            redis_server.start()
            for base in (a.url, b.url):
                while (await http.get(f"{base}/healthz")).status_code != 200:
                    await anyio.sleep(0.05)
            ends: list[str] = []

            async def one(base: str, i: int) -> None:
                job = await create_job(http, base, ticker(5, 0.02, f"back{i}"))
                got, _ = await read(http, f"{base}{job['events_url']}")
                ends.append(got[-1].event if got[-1].event == "complete" else got[-1].data)

            async with anyio.create_task_group() as tg:
                for i in range(30):
                    tg.start_soon(one, a.url if i % 2 else b.url, i)
    assert ends == ["complete"] * 30, ends
    assert not any("ended elsewhere" in line for line in a.output() + b.output())


async def test_a_job_ended_while_redis_refused_writes_ends_everywhere(
    pair: tuple[ServerProcess, ServerProcess], redis_server: RedisProcess
) -> None:
    a, b = pair
    admin = redis.Redis.from_url(redis_server.url)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            job = await create_job(http, a.url, ticker(400, 0.05, secrets.token_hex(4)))
            status_on_b = f"{b.url}/v1/jobs/{job['id']}"
            with anyio.fail_after(90):
                await read(http, f"{b.url}{job['events_url']}", limit=3)
                used = int(admin.info("memory")["used_memory"])
                admin.config_set("maxmemory-policy", "noeviction")
                admin.config_set("maxmemory", str(used + 1024))
                while (await http.get(f"{a.url}/healthz")).status_code == 200:
                    await anyio.sleep(0.05)  # the owner's writes are refused: it ends its jobs
                admin.config_set("maxmemory", "0")
                # Redis takes writes again: the end the owner recorded reaches every process.
                info = await wait_status(http, status_on_b, {"failed", "cancelled", "complete"}, 30)
                whole, _ = await read(http, f"{b.url}{job['events_url']}", last_id=f"{job['id']}:0")
                deleted = await http.delete(status_on_b)
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()
    assert info["status"] in ("failed", "cancelled")
    assert whole and whole[-1].event == "error", "readers elsewhere get the terminal event, not only pings"
    assert deleted.status_code in (200, 204, 409), deleted.text


def test_a_reader_that_never_reads_a_chatty_remote_job_costs_bounded_memory(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    # The job goes on printing once the slow reader is cut (a reconnect may come), however
    # slowly a busy machine runs it.
    limits = {"SEND_TIMEOUT": "3", "JOB_LOG_EVENTS": "2000", "JOB_GRACE_PERIOD": "120"}
    with ServerProcess(env(default_kb, redis_server, **limits)) as a, \
            ServerProcess(env(default_kb, redis_server, **limits)) as b:
        job = httpx.post(f"{a.url}/v1/jobs", json={
            "model": "ticker", "input": ticker(400_000, 0, "x" * 128)}, timeout=10).json()
        before = rss_mib(b.process.pid)
        slow = socket.create_connection(("127.0.0.1", b.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(f"GET {job['events_url']} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
        peak = before
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline:
                peak = max(peak, rss_mib(b.process.pid))
                info = httpx.get(f"{b.url}/v1/jobs/{job['id']}", timeout=10).json()
                if info["status"] != "running":
                    break
                time.sleep(0.2)
            # 400,000 lines (about 60 MB) went by while the reader on B read nothing. (Events
            # are not counted: lines printed faster than they are read share one event.)
            assert info["status"] == "complete", info
        finally:
            slow.close()
            httpx.delete(f"{a.url}/v1/jobs/{job['id']}", timeout=10)
    assert peak - before < 200, f"the reading process grew from {before:.0f} to {peak:.0f} MiB"


async def test_a_command_error_fails_its_own_request_not_every_job_of_the_process(
    pair: tuple[ServerProcess, ServerProcess], redis_server: RedisProcess
) -> None:
    a, b = pair
    admin = redis.Redis.from_url(redis_server.url)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            bystander = await create_job(http, b.url, ticker(30, 0.05, secrets.token_hex(4)))
            broken = await create_job(http, a.url, ticker(30, 0.05, secrets.token_hex(4)))
            # Whatever makes Redis answer an error reply (here: a key of the wrong type).
            admin.delete(f"cs:job:{broken['id']}:events")
            admin.set(f"cs:job:{broken['id']}:events", "not a stream")
            with anyio.fail_after(30):
                refused, code = await read(http, f"{b.url}{broken['events_url']}")
                health = await http.get(f"{b.url}/healthz")
                events, _ = await read(http, f"{b.url}{bystander['events_url']}")
    finally:
        admin.close()
    assert code == 200, code
    assert refused[-1].event == "error" and "Traceback" not in refused[-1].data, "that reader gets a clear error"
    assert health.status_code == 200, "one bad reply is not an outage"
    assert events[-1].event == "complete" and ticks(events) == list(range(30)), "the other jobs run on"
