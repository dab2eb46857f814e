"""Several real uvicorn processes sharing a real redis-server: any process serves any job."""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from pathlib import Path

import anyio
import httpx
import pytest
import redis
from httpx_sse import ServerSentEvent

from tests.helpers import ticker
from tests.nginx import NginxProcess
from tests.redis_server import RedisProcess
from tests.server import ServerProcess
from tests.shared_redis import create_job, env, read, ticks

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_a_stream_started_on_one_process_resumes_on_another_exactly_once(
    pair: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=20) as http:
        job = await create_job(http, a.url, ticker(40, 0.02, secrets.token_hex(4)))
        with anyio.fail_after(30):
            first, _ = await read(http, f"{a.url}{job['events_url']}", limit=10)
            rest, _ = await read(http, f"{b.url}{job['events_url']}", last_id=first[-1].id)
            after_end, status = await read(http, f"{b.url}{job['events_url']}", last_id=rest[-1].id)
            on_b = (await http.get(f"{b.url}/v1/jobs/{job['id']}")).json()
    seqs = [int(e.id.split(":")[1]) for e in first + rest if e.event != "content"]  # html carries its seq
    assert seqs == list(range(1, len(seqs) + 1)), "every event once, in order, across the two processes"
    assert ticks(first + rest) == list(range(40))
    assert rest[-1].event == "complete" and status == 204 and not after_end
    assert on_b["status"] == "complete" and on_b["events"] == seqs[-1]


async def test_a_reconnect_ahead_of_what_the_other_process_has_heard_is_taken(
    pair: tuple[ServerProcess, ServerProcess], redis_server: RedisProcess
) -> None:
    """The job's own process sends its events at once; the other hears of them once they are
    copied through Redis. A reader that moves across in between is ahead of the other's view,
    and must be served from where it is, not refused."""
    a, b = pair
    async with httpx.AsyncClient(timeout=20) as http:
        job = await create_job(http, a.url, ticker(40, 0.05, secrets.token_hex(4)))
        with anyio.fail_after(30):
            first, _ = await read(http, f"{a.url}{job['events_url']}", limit=5)
            # Writes wait for 1.5 s: what the job prints now reaches readers on its own process only.
            redis.Redis.from_url(redis_server.url).client_pause(1500, all=False)
            ahead, _ = await read(http, f"{a.url}{job['events_url']}", last_id=first[-1].id, limit=3)
            known = (await http.get(f"{b.url}/v1/jobs/{job['id']}")).json()["events"]
            rest, status = await read(http, f"{b.url}{job['events_url']}", last_id=ahead[-1].id)
    assert known < int(ahead[-1].id.split(":")[1]), "the other process had not heard of the last event yet"
    assert status == 200
    events = first + ahead + rest
    seqs = [int(e.id.split(":")[1]) for e in events if e.event != "content"]
    assert seqs == list(range(1, len(seqs) + 1)) and rest[-1].event == "complete"
    assert ticks(events) == list(range(40))


async def test_the_shared_log_is_trimmed_like_the_owners_by_events_and_characters(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    limits = {"JOB_LOG_CHARS": "2048"}
    with ServerProcess(env(default_kb, redis_server, **limits)) as a, \
            ServerProcess(env(default_kb, redis_server, **limits)) as b:
        async with httpx.AsyncClient(timeout=20) as http:
            job = await create_job(http, a.url, ticker(150, 0.005, secrets.token_hex(4)))
            with anyio.fail_after(30):
                while (await http.get(f"{b.url}/v1/jobs/{job['id']}")).json()["status"] == "running":
                    await anyio.sleep(0.05)
                on_a, _ = await read(http, f"{a.url}{job['events_url']}")
                on_b, _ = await read(http, f"{b.url}{job['events_url']}")
    assert [(e.event, e.id, e.data) for e in on_b] == [(e.event, e.id, e.data) for e in on_a], \
        "a reader elsewhere gets what a reader on the owner gets"
    gap = json.loads(on_b[0].data)
    assert on_b[0].event == "gap" and gap["first"] == 1 and gap["last"] > 1
    kept = ticks(on_b)
    assert kept == list(range(kept[0], 150)) and kept[0] > 0, "the newest events kept, contiguous"
    assert sum(len(e.data) for e in on_b[1:]) <= 2048, "JOB_LOG_CHARS bounds what is kept"
    assert on_b[-1].event == "complete"


async def test_delete_on_one_process_stops_a_job_running_on_another(
    pair: tuple[ServerProcess, ServerProcess]
) -> None:
    token = secrets.token_hex(4)
    a, b = pair
    async with httpx.AsyncClient(timeout=20) as http:
        job = await create_job(http, a.url, ticker(100_000, 0.02, token))
        with anyio.fail_after(20):
            await read(http, f"{a.url}{job['events_url']}", limit=2)  # it runs on a
            asked = time.monotonic()
            deleted = await http.delete(f"{b.url}/v1/jobs/{job['id']}")
            took = time.monotonic() - asked
            events, _ = await read(http, f"{a.url}{job['events_url']}", last_id=f"{job['id']}:2")
    assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled", deleted.text
    assert took < 2.5, "DELETE answers once the owner has stopped it"
    assert events[-1].event == "error" and json.loads(events[-1].data)["kind"] == "cancelled"


async def test_readers_elsewhere_learn_that_the_process_running_their_job_died(
    pair: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as http:
        job = await create_job(http, a.url, ticker(100_000, 0.05, secrets.token_hex(4)))
        with anyio.fail_after(40):
            async with anyio.create_task_group() as tg:
                result: list[ServerSentEvent] = []

                async def follow() -> None:
                    events, _ = await read(http, f"{b.url}{job['events_url']}")
                    result.extend(events)

                tg.start_soon(follow)
                while (await http.get(f"{b.url}/v1/jobs/{job['id']}")).json()["events"] < 3:
                    await anyio.sleep(0.05)
                os.kill(a.process.pid, signal.SIGKILL)
                killed = time.monotonic()
            ended = time.monotonic() - killed
            status = (await http.get(f"{b.url}/v1/jobs/{job['id']}")).json()
    last = json.loads(result[-1].data)
    assert result[-1].event == "error" and last["kind"] == "worker_lost" and "stopped unexpectedly" in last["message"]
    assert ended < 15, f"the reader learnt it after {ended:.1f} s"
    assert status["status"] == "failed" and status["reason"] == "worker_lost"


async def test_the_status_of_a_job_whose_process_died_says_so_without_any_reader(
    pair: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as http:
        job = await create_job(http, a.url, ticker(100_000, 0.05, secrets.token_hex(4)))
        with anyio.fail_after(40):
            await read(http, f"{a.url}{job['events_url']}", limit=2)
            os.kill(a.process.pid, signal.SIGKILL)
            killed = time.monotonic()
            while (status := (await http.get(f"{b.url}/v1/jobs/{job['id']}")).json())["status"] == "running":
                await anyio.sleep(0.2)
            noticed = time.monotonic() - killed
    assert status["status"] == "failed" and status["reason"] == "worker_lost", status
    assert noticed < 15, f"the status said so after {noticed:.1f} s"


async def test_redis_going_away_ends_streams_clearly_and_service_comes_back_by_itself(
    pair: tuple[ServerProcess, ServerProcess], redis_server: RedisProcess
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=20) as http:
        job = await create_job(http, a.url, ticker(100_000, 0.05, secrets.token_hex(4)))
        with anyio.fail_after(60):
            result: dict[str, list[ServerSentEvent]] = {}
            async with anyio.create_task_group() as tg:

                async def follow(name: str, base: str) -> None:
                    result[name], _ = await read(http, f"{base}{job['events_url']}")

                tg.start_soon(follow, "owner", a.url)
                tg.start_soon(follow, "elsewhere", b.url)
                while (await http.get(f"{b.url}/v1/jobs/{job['id']}")).json()["events"] < 3:
                    await anyio.sleep(0.05)
                # Many connections in each process's pool, all of which the restart will kill.
                async with anyio.create_task_group() as burst:
                    for i in range(24):
                        burst.start_soon(create_job, http, a.url if i % 2 else b.url, ticker(1, 0, f"w{i}"))
                redis_server.stop()
            down = await http.post(f"{a.url}/v1/jobs", json={"model": "ticker", "input": ticker(1, 0, "x")})
            health = await http.get(f"{b.url}/healthz")
            redis_server.start()
            while (await http.get(f"{a.url}/healthz")).status_code != 200 or \
                    (await http.get(f"{b.url}/healthz")).status_code != 200:
                await anyio.sleep(0.1)
            again = await create_job(http, a.url, ticker(3, 0.01, "back"))
            events, _ = await read(http, f"{b.url}{again['events_url']}")
            # Connections pooled before the restart are dead; none of them may cost a job.
            ends: list[str] = []

            async def one(base: str, i: int) -> None:
                job_now = await create_job(http, base, ticker(20, 0.05, f"after{i}"))
                got, _ = await read(http, f"{base}{job_now['events_url']}")
                ends.append(got[-1].event)

            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(one, a.url if i % 2 else b.url, i)
    for name, events_seen in result.items():
        assert events_seen[-1].event == "error", name
        assert json.loads(events_seen[-1].data)["kind"] == "store_unavailable", name
    assert down.status_code == 503 and down.headers["retry-after"]
    assert down.json()["error"]["code"] == "store_unavailable"
    assert health.status_code == 503 and health.json()["redis"] == "unavailable"
    assert events[-1].event == "complete" and ticks(events) == [0, 1, 2]
    assert ends == ["complete"] * 8, ends
    assert not any("Traceback" in line for line in a.output() + b.output())


def test_a_service_whose_redis_does_not_answer_refuses_to_start_in_one_line(default_kb: Path) -> None:
    server = ServerProcess({"KNOWLEDGE_BASE": str(default_kb), "REDIS_URL": "redis://127.0.0.1:9/0"})
    try:
        with pytest.raises(RuntimeError):
            server.wait_ready(timeout=30)
        output = [line for line in server.output() if line.strip()]
    finally:
        server.stop()
    assert server.process.returncode not in (0, None)
    assert any("REDIS_URL" in line and "does not answer" in line for line in output)
    assert not any("Traceback" in line for line in output)


async def test_through_nginx_round_robin_every_reconnect_lands_anywhere_and_nothing_repeats(
    pair: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = pair
    with NginxProcess([a.port, b.port]) as nginx:
        async with httpx.AsyncClient(timeout=20) as http:
            job = await create_job(http, nginx.url, ticker(30, 0.03, secrets.token_hex(4)))
            events: list[ServerSentEvent] = []
            last: str | None = None
            with anyio.fail_after(60):
                while not events or events[-1].event not in ("complete", "error"):
                    # A new connection each time: nginx sends it to the next process.
                    got, status = await read(http, f"{nginx.url}{job['events_url']}", last_id=last, limit=4)
                    assert status == 200
                    events += got
                    last = events[-1].id
    assert ticks(events) == list(range(30))
    served = [any(f"path={job['events_url']}" in line for line in server.output()) for server in (a, b)]
    assert served == [True, True], "reconnects landed on both processes"
    seqs = [int(e.id.split(":")[1]) for e in events if e.event != "content"]
    assert seqs == list(range(1, len(seqs) + 1))
    assert events[-1].event == "complete"
