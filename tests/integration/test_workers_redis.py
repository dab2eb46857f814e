"""Web processes that run no job (``JOB_WORKERS=remote``) and workers that run them, on a real redis-server."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import redis
from httpx_sse import ServerSentEvent, aconnect_sse
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import ticker
from tests.redis_server import RedisProcess
from tests.server import ServerProcess
from tests.shared_redis import create_job, env, read, ticks
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

Tier = tuple[ServerProcess, ServerProcess, WorkerProcess]


@contextlib.contextmanager
def tier(kb: Path, redis_server: RedisProcess, workers: int = 1, **extra: str) -> Iterator[
        tuple[ServerProcess, ServerProcess, list[WorkerProcess]]]:
    """Two web processes and ``workers`` worker processes, started side by side."""
    settings = env(kb, redis_server, JOB_WORKERS="remote", **extra)
    with contextlib.ExitStack() as stack:
        a, b = ServerProcess(settings), ServerProcess(settings)
        pool = [WorkerProcess(settings) for _ in range(workers)]
        processes: list[ServerProcess | WorkerProcess] = [a, b, *pool]
        for process in processes:
            stack.enter_context(process)
        try:
            yield a, b, pool
        except BaseException:
            for process in processes:  # what each said, for the failure's report
                print("=====", "\n".join(process.output()[-40:]))
            raise


def seqs(events: list[ServerSentEvent]) -> list[int]:
    return [int(e.id.split(":")[1]) for e in events if e.event != "content"]  # html carries its seq


def owner_pid(redis_server: RedisProcess, job_id: str) -> int:
    """The pid of the worker that runs ``job_id`` (its owner is ``host:pid:nonce``)."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        owner = client.hget(f"cs:job:{job_id}", "owner")
    finally:
        client.close()
    assert isinstance(owner, bytes) and owner.count(b":") == 2, owner
    return int(owner.split(b":")[1])


Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def figures(http: httpx.AsyncClient, server: ServerProcess) -> Figures:
    """A web process's /metrics: value by (sample name, its labels but ``process``); every sample must name
    this process."""
    text = (await http.get(f"{server.url}/metrics")).text
    found: Figures = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.labels.get("process") == f"{socket.gethostname()}:{server.process.pid}", sample
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "process")
            found[(sample.name, labels)] = sample.value
    return found


def figure(found: Figures, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def wait_events(http: httpx.AsyncClient, url: str, count: int) -> None:
    while (await http.get(url)).json()["events"] < count:
        await anyio.sleep(0.05)


async def test_jobs_run_on_the_worker_and_stream_from_any_web_process(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    token = secrets.token_hex(4)
    with tier(default_kb, redis_server) as (a, b, [worker]):
        async with httpx.AsyncClient(timeout=20) as http:
            health = (await http.get(f"{a.url}/healthz")).json()
            job = await create_job(http, a.url, ticker(20, 0.01, token))
            with anyio.fail_after(30):
                events, _ = await read(http, f"{b.url}{job['events_url']}")
            status = (await http.get(f"{a.url}/v1/jobs/{job['id']}")).json()
        assert health["job_workers"] == "remote"
        assert ticks(events) == list(range(20)) and events[-1].event == "complete"
        assert seqs(events) == list(range(1, len(seqs(events)) + 1))
        assert status["status"] == "complete" and status["content"].startswith("ticker done: 20 ticks")
        echoed = f"[{job['id']}] tick 0 "
        assert any(echoed in line for line in worker.output()), "the worker ran it"
        assert not any(echoed in line for line in a.output() + b.output()), "no web process ran it"


async def test_cancel_from_either_web_process_reaches_the_worker_within_a_second(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    with tier(default_kb, redis_server) as (a, b, _):
        async with httpx.AsyncClient(timeout=20) as http:
            job = await create_job(http, a.url, ticker(100_000, 0.02, secrets.token_hex(4)))
            ended: list[float] = []
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    async def follow() -> None:
                        events, _ = await read(http, f"{a.url}{job['events_url']}")
                        ended.append(time.monotonic())
                        assert events[-1].event == "error" and json.loads(events[-1].data)["kind"] == "cancelled"

                    tg.start_soon(follow)
                    await wait_events(http, f"{b.url}/v1/jobs/{job['id']}", 3)
                    asked = time.monotonic()
                    deleted = await http.delete(f"{b.url}/v1/jobs/{job['id']}")
    assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled", deleted.text
    assert ended[0] - asked < 1.0, f"the reader on the other web process saw the end after {ended[0] - asked:.2f} s"


async def test_admission_is_global_positions_and_429_whichever_web_process_is_asked(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    with tier(default_kb, redis_server, MAX_CONCURRENT_JOBS="1", MAX_QUEUED_JOBS="1") as (a, b, _):
        async with httpx.AsyncClient(timeout=20) as http:
            first = await create_job(http, a.url, ticker(100_000, 0.05, "first"))
            with anyio.fail_after(30):
                await wait_events(http, f"{b.url}/v1/jobs/{first['id']}", 1)  # a worker runs it
                second = await create_job(http, b.url, ticker(3, 0.01, "second"))
                third = await http.post(f"{a.url}/v1/jobs", json={"model": "ticker", "input": ticker(3, 0.01)})
                waiting, _ = await read(http, f"{a.url}{second['events_url']}", limit=1)
                await http.delete(f"{a.url}/v1/jobs/{first['id']}")
                rest, _ = await read(http, f"{b.url}{second['events_url']}", last_id=waiting[-1].id)
    assert second["status"] == "queued"
    assert third.status_code == 429, third.text
    assert "1 job running and 1 waiting" in third.json()["error"]["message"], "counted on all processes"
    assert waiting[0].event == "progress" and waiting[0].data.strip() == "Waiting for a free worker: 0 ahead."
    assert rest[0].data.strip() == "A worker is free: starting." and ticks(rest) == [0, 1, 2]
    assert rest[-1].event == "complete"


async def test_a_worker_stopped_with_sigterm_finishes_its_jobs_and_takes_no_new_one(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    with tier(default_kb, redis_server, WORKER_THREADS="2") as (a, b, [worker]):
        async with httpx.AsyncClient(timeout=30) as http:
            jobs = [await create_job(http, a.url, ticker(30, 0.1, f"drain{i}")) for i in range(2)]
            with anyio.fail_after(60):
                for job in jobs:
                    await wait_events(http, f"{b.url}/v1/jobs/{job['id']}", 2)
                worker.process.send_signal(signal.SIGTERM)
                await anyio.sleep(0.3)  # (the signal is handled; what follows is not a wait for it)
                late = await create_job(http, b.url, ticker(2, 0.01, "late"))
                results = [await read(http, f"{b.url}{job['events_url']}") for job in jobs]
                while worker.process.poll() is None:
                    await anyio.sleep(0.05)
                late_status = (await http.get(f"{a.url}/v1/jobs/{late['id']}")).json()
                with WorkerProcess(env(default_kb, redis_server, JOB_WORKERS="remote")):
                    late_events, _ = await read(http, f"{a.url}{late['events_url']}")
    for events, _ in results:
        assert ticks(events) == list(range(30)) and events[-1].event == "complete", events[-1].data
    assert worker.process.returncode == 0
    assert late_status["status"] == "queued", "a draining worker takes no new job"
    assert late_events[-1].event == "complete", "the next worker takes it"


async def test_a_worker_killed_readers_get_worker_lost_within_15_s(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    with tier(default_kb, redis_server) as (a, b, [worker]):
        async with httpx.AsyncClient(timeout=30) as http:
            job = await create_job(http, a.url, ticker(100_000, 0.05, secrets.token_hex(4)))
            result: list[ServerSentEvent] = []
            with anyio.fail_after(40):
                async with anyio.create_task_group() as tg:
                    async def follow() -> None:
                        result.extend((await read(http, f"{b.url}{job['events_url']}"))[0])

                    tg.start_soon(follow)
                    await wait_events(http, f"{a.url}/v1/jobs/{job['id']}", 3)
                    os.kill(worker.pid, signal.SIGKILL)
                    killed = time.monotonic()
                took = time.monotonic() - killed
                status = (await http.get(f"{a.url}/v1/jobs/{job['id']}")).json()
                while figure(metrics := await figures(http, a), "course_stream_jobs_running") != 0:
                    await anyio.sleep(0.1)  # its admission place is freed (the figure is a second fresh)
    assert result[-1].event == "error" and json.loads(result[-1].data)["kind"] == "worker_lost"
    assert took < 15, f"readers learnt it after {took:.1f} s"
    assert status["status"] == "failed" and status["reason"] == "worker_lost"
    assert figure(metrics, "course_stream_workers_jobs_lost") == 1


async def test_with_job_retry_a_lost_job_runs_again_on_the_other_worker_readers_told_once(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    token = secrets.token_hex(4)
    with tier(default_kb, redis_server, workers=2, JOB_RETRY="1") as (a, b, pool):
        async with httpx.AsyncClient(timeout=30) as http:
            job = await create_job(http, a.url, ticker(40, 0.05, token))
            result: list[ServerSentEvent] = []
            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    async def follow() -> None:
                        result.extend((await read(http, f"{b.url}{job['events_url']}"))[0])

                    tg.start_soon(follow)
                    await wait_events(http, f"{a.url}/v1/jobs/{job['id']}", 5)
                    lost = owner_pid(redis_server, job["id"])
                    os.kill(lost, signal.SIGKILL)
                replay, _ = await read(http, f"{a.url}{job['events_url']}")
                status = (await http.get(f"{a.url}/v1/jobs/{job['id']}")).json()
                while figure(await figures(http, b), "course_stream_workers_jobs_retried") != 1:
                    await anyio.sleep(0.1)
        survivor = next(w for w in pool if w.pid != lost)
    restarted = [i for i, e in enumerate(result) if e.event == "restarted"]
    assert len(restarted) == 1, [e.event for e in result]
    assert "starts again from the beginning" in result[restarted[0]].data
    assert seqs(result) == list(range(1, len(seqs(result)) + 1)), "every event once, in order"
    before, after = ticks(result[:restarted[0]]), ticks(result[restarted[0]:])
    assert before == list(range(len(before))) and after == list(range(40)), "the second run from its start"
    assert result[-1].event == "complete" and status["status"] == "complete"
    assert status["content"].count("ticker done") == 1, "the answer starts afresh"
    assert [(e.event, e.id, e.data) for e in replay] == [(e.event, e.id, e.data) for e in result]
    assert any(f"[{job['id']}] tick 39 " in line for line in survivor.output())


async def test_a_web_process_killed_mid_stream_its_reader_resumes_on_the_other_exactly_once(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    with tier(default_kb, redis_server) as (a, b, _):
        async with httpx.AsyncClient(timeout=30) as http:
            job = await create_job(http, a.url, ticker(60, 0.05, secrets.token_hex(4)))
            seen: list[ServerSentEvent] = []
            with anyio.fail_after(40):
                async with anyio.create_task_group() as tg:
                    async def collect() -> None:  # what arrives until the process dies
                        with contextlib.suppress(httpx.HTTPError):
                            async with aconnect_sse(http, "GET", f"{a.url}{job['events_url']}") as source:
                                async for event in source.aiter_sse():
                                    if event.data:
                                        seen.append(event)

                    tg.start_soon(collect)
                    while len(seen) < 10:
                        await anyio.sleep(0.02)
                    os.kill(a.process.pid, signal.SIGKILL)
                rest, _ = await read(http, f"{b.url}{job['events_url']}", last_id=seen[-1].id)
    events = seen + rest
    assert ticks(events) == list(range(60)), "nothing lost or repeated across the web processes"
    assert seqs(events) == list(range(1, len(seqs(events)) + 1))
    assert rest[-1].event == "complete"


async def test_metrics_are_per_web_process_and_the_workers_queue_is_read_from_redis(
    default_kb: Path, redis_server: RedisProcess
) -> None:
    with tier(default_kb, redis_server, WORKER_THREADS="1") as (a, b, _):
        async with httpx.AsyncClient(timeout=30) as http:
            first = await create_job(http, a.url, ticker(100_000, 0.05, "first"))
            with anyio.fail_after(30):
                await wait_events(http, f"{b.url}/v1/jobs/{first['id']}", 1)  # the worker's one thread runs it
                second = await create_job(http, a.url, ticker(3, 0.01, "second"))
                while figure(busy := await figures(http, b), "course_stream_workers_queue_depth") != 1:
                    await anyio.sleep(0.1)  # (the figures are a second fresh)
                on_a = await figures(http, a)
                await http.delete(f"{b.url}/v1/jobs/{first['id']}")
                await read(http, f"{b.url}{second['events_url']}")  # the worker takes it once the first ended
                names = ("jobs_running", "jobs_queued", "workers_queue_depth", "workers_queue_pending")
                while True:  # both ended: nothing runs, waits or is pending
                    idle = await figures(http, a)
                    if all(figure(idle, f"course_stream_{name}") == 0 for name in names):
                        break
                    await anyio.sleep(0.1)
    # Each process counts what it served: both jobs were created on a, none on b.
    assert figure(on_a, "course_stream_http_requests_total", method="POST", status="201") == 2
    assert figure(busy, "course_stream_http_requests_total", method="POST", status="201") is None
    # The worker tier's figures are global: one job runs, one waits unread in the queue.
    assert figure(busy, "course_stream_jobs_running") == 1 and figure(busy, "course_stream_jobs_queued") == 1
    assert figure(busy, "course_stream_workers_queue_pending") == 1
    assert figure(idle, "course_stream_workers_jobs_lost") == 0
