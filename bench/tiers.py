"""The worker tier's figures: web processes that run no job (``JOB_WORKERS=remote``) and worker processes.

Two scenarios, each against setups started afresh on one machine in one run:

- ``tier_table``: 1,000 ``ticker`` streams × 20 lines at 100 ms on one process (jobs in
  its threads), the stack floor (``bench/floor.py``), and 2 web processes + 1, 2 or 4
  workers sharing a ``redis-server`` started for the run.  The load client sends stream
  i to web process i mod 2, as nginx's round-robin upstream would.  Besides the delays it
  records the CPU each process used, so the table says how many of the machine's cores
  the setup wanted: what limits the figures when client, web, workers and Redis share 2.
- ``idle_remote_rows``: 20,000 silent streams on one remote web process (their jobs wait
  on workers), with heartbeats' lateness and the web process's memory per stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvloop

from bench import loadgen
from bench.run import HOST, fmt, rss_kib, server, stream_cells
from tests.redis_server import RedisProcess
from tests.worker_process import WorkerProcess

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process (and its reaped children) used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / _TICKS


def machine_cpu_seconds() -> float:
    """CPU every process on the machine used so far (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICKS


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Tier:
    ports: list[int]
    pids: dict[str, list[int]]  # "web", "worker", "redis" -> their pids


@contextlib.contextmanager
def tier(env: dict[str, str], redis: RedisProcess, web: int, workers: int, threads: int) -> Iterator[Tier]:
    """``web`` web processes with ``JOB_WORKERS=remote`` and ``workers`` workers of ``threads`` jobs each."""
    settings = {**env, "REDIS_URL": redis.url, "JOB_WORKERS": "remote", "WORKER_THREADS": str(threads),
                "ECHO_JOB_OUTPUT": "0"}
    with contextlib.ExitStack() as stack:
        pool = [WorkerProcess(settings) for _ in range(workers)]
        for worker in pool:
            stack.enter_context(worker)
        started = [stack.enter_context(server("service:app", settings)) for _ in range(web)]
        assert redis.process is not None
        yield Tier([port for port, _ in started], {"web": [pid for _, pid in started],
                                                   "worker": [w.pid for w in pool], "redis": [redis.process.pid]})


def measure(ports: list[int], pids: dict[str, list[int]], n: int, ticks: int, interval: float,
             label: str) -> tuple[loadgen.RunStats, dict[str, float]]:
    """Run the load; returns its figures and the CPU seconds each kind of process used meanwhile."""
    before = {kind: sum(cpu_seconds(pid) for pid in group) for kind, group in pids.items()}
    client, machine = own_cpu_seconds(), machine_cpu_seconds()
    stats = uvloop.run(loadgen.concurrent_streams(HOST, ports, n, ticks, interval, 30 + ticks * interval * 10,
                                                  label))
    used = {kind: sum(cpu_seconds(pid) for pid in group) - before[kind] for kind, group in pids.items()}
    used["client"] = own_cpu_seconds() - client
    # The machine is shared: what else ran meanwhile took cores from the setup under test.
    used["other work"] = max(0.0, machine_cpu_seconds() - machine - sum(used.values()))
    return stats, used


def _cpu_cell(used: dict[str, float], wall: float) -> str:
    """Cores the setup and its client kept busy on average, and the CPU seconds of each (and of other work)."""
    ours = sum(seconds for kind, seconds in used.items() if kind != "other work")
    parts = ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in used.items() if seconds >= 0.05)
    return f"{ours / wall:.2f} ({parts})"


def tier_table(env: dict[str, str], n: int, ticks: int, interval: float, worker_counts: tuple[int, ...]) -> list[str]:
    """One process, the floor, and 2 web + each of ``worker_counts`` workers, under the same load."""
    rows = [
        f"| setup ({n} streams) | p50 ms | p99 ms | max ms | lost | foreign | incomplete | wall s (ideal) "
        "| p99 ÷ floor | wall ÷ job | cores busy (CPU s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    measured: list[tuple[str, loadgen.RunStats, dict[str, float]]] = []

    def alone(name: str, app: str) -> None:
        with server(app, env) as (port, pid):
            stats, used = measure([port], {"web": [pid]}, n, ticks, interval, f"t{len(measured)}x")
        measured.append((name, stats, used))

    alone("stack floor (no job threads)", "bench.floor:app")
    alone("one process, jobs in its threads", "service:app")
    with RedisProcess() as redis:
        for workers in worker_counts:
            threads = -(-n // workers) + 10  # every stream's job runs at once
            with tier(env, redis, 2, workers, threads) as setup:
                stats, used = measure(setup.ports, setup.pids, n, ticks, interval, f"t{len(measured)}x")
            measured.append((f"2 web + {workers} worker{'s' if workers > 1 else ''}, Redis", stats, used))
    floor = measured[0][1]
    for name, stats, used in measured:
        vs_floor = stats.p99_ms / floor.p99_ms if floor.p99_ms else float("nan")
        rows.append(f"| {name} | {stream_cells(stats)} | {fmt(vs_floor)}× | {fmt(stats.wall_s / stats.ideal_s, 2)} "
                    f"| {_cpu_cell(used, stats.wall_s)} |")
        print(rows[-1], flush=True)
    return rows


def source_addresses(n: int, per_address: int = 10_000) -> list[str]:
    """Loopback addresses (127.0.0.2, …) enough for ``n`` connections, each well inside one's port range."""
    return [f"127.0.0.{2 + i}" for i in range(max(1, -(-n // per_address)))]


def idle_remote_rows(env: dict[str, str], n: int, heartbeat: float, hold: float, workers: int) -> list[str]:
    """``n`` silent streams on one remote web process; their jobs wait on ``workers`` workers."""
    settings = {**env, "HEARTBEAT_INTERVAL": str(heartbeat)}
    with RedisProcess() as redis, tier(settings, redis, 1, workers, -(-n // workers) + 10) as setup:
        pid = setup.pids["web"][0]
        before = rss_kib(pid)
        sampled: list[int] = []

        async def hold_open() -> tuple[int, list[float], dict[str, int]]:
            opened = asyncio.Event()
            # Clients arrive at 500 a second (40 s for 20,000): at 1,000-2,000 a second the listen queue
            # (somaxconn 4,096 here) overflowed while 4 workers started 20,000 job threads on the
            # same 2 cores, and the connections it had dropped were reset (13 % of them).
            task = asyncio.create_task(loadgen.idle_streams(HOST, setup.ports[0], n, heartbeat, hold, opened,
                                                            source_addresses(n), arrivals_per_s=500))
            await opened.wait()
            sampled.append(rss_kib(pid))
            return await task

        open_streams, lateness, errors = uvloop.run(hold_open())
    per_stream = (sampled[0] - before) / max(1, open_streams)
    late = (f"late by p50 {fmt(loadgen.median(lateness), 3)} s, p99 {fmt(loadgen.percentile(lateness, 99), 3)} s"
            if lateness else f"no two heartbeats arrived within the {hold:g} s window")
    failed = f"; failed: {errors}" if errors else ""
    row = (f"| {n:,} idle streams, one web process with `JOB_WORKERS=remote` ({workers} workers hold the jobs) "
           f"| {open_streams:,} open; heartbeat every {heartbeat:g} s {late}; {fmt(per_stream, 1)} KiB per stream "
           f"({fmt(before / 1024, 0)} → {fmt(sampled[0] / 1024, 0)} MiB){failed} |")
    print(row, flush=True)
    return [row]
