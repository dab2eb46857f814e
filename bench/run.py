"""``make bench``: this service and the design it replaces, side by side, in one run.

Both servers run under the same uvicorn with the same settings (the protocol ``make run`` serves
with, whose header guard only this service turns on), each in its own
process, restarted for every scenario; the load client (``bench/loadgen.py``)
shares the machine with them.  Results print as Markdown; ``--write`` also puts
them into BENCHMARKS.md between the result markers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvloop

from bench import loadgen
from bench.courses import course_rows
from tests.server import HTTP_PROTOCOL, free_port

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
APPS = {"this service": "service:app", "baseline (seed design)": "bench.baseline:app"}
# Starlette + sse-starlette streaming the same chunks with no job thread (bench/floor.py): what the
# framework alone costs, for the concurrency and idle-stream figures.
FLOOR = {"stack floor (no job threads)": "bench.floor:app"}


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = ""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return f"{cpu}, {os.cpu_count()} cores{memory}, Linux {platform.release()}, Python {platform.python_version()}"


def rss_kib(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


@contextmanager
def server(app: str, env: dict[str, str], workers: int = 1) -> Iterator[tuple[int, int]]:
    """(port, pid) of a fresh uvicorn running ``app``; its console goes to /dev/null."""
    port = free_port()
    full_env = {**os.environ, "ECHO_JOB_OUTPUT": "0", **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port),
         "--no-access-log", "--log-level", "warning", "--backlog", "16384", "--workers", str(workers),
         "--http", HTTP_PROTOCOL],
        cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the workers stop with it
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://{HOST}:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{app} did not start") from None
                time.sleep(0.1)
        yield port, process.pid
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def fmt(value: float, digits: int = 1) -> str:
    if value != value:  # NaN
        return "–"
    return f"{value:,.{digits}f}"


def ratio(ours: float, theirs: float, higher_is_better: bool) -> str:
    if not ours or not theirs or ours != ours or theirs != theirs:
        return "–"
    r = ours / theirs if higher_is_better else theirs / ours
    return f"{r:,.1f}×"


def stream_cells(stats: loadgen.RunStats) -> str:
    """The cells every concurrency row shares: delays, what went missing, wall time."""
    return (
        f"{fmt(stats.p50_ms)} | {fmt(stats.p99_ms)} | {fmt(stats.max_ms)} | "
        f"{stats.lost:,} | {stats.foreign:,} | {stats.incomplete:,} | {fmt(stats.wall_s, 2)} ({fmt(stats.ideal_s, 1)})"
    )


def concurrency_table(env: dict[str, str], sizes: list[int], ticks: int, interval: float) -> list[str]:
    rows = [
        "| streams | server | p50 ms | p99 ms | max ms | lost | foreign | incomplete | wall s (ideal) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes: list[str] = []
    for n in sizes:
        for name, app in {**APPS, **FLOOR}.items():
            with server(app, env) as (port, _):
                timeout = 30 + ticks * interval * 10
                stats = uvloop.run(loadgen.concurrent_streams(HOST, port, n, ticks, interval, timeout, f"c{n}x"))
            rows.append(f"| {n} | {name} | {stream_cells(stats)} |")
            print(rows[-1], flush=True)
            if stats.errors:
                notes.append(f"- {n} streams, {name}: incomplete streams ended by {stats.errors}")
    return rows + (["", *notes] if notes else [])


def scaling_table(env: dict[str, str], n: int, ticks: int, interval: float) -> list[str]:
    """The same load against one process alone, and one and two worker processes sharing Redis."""
    from tests.redis_server import RedisProcess

    rows = [
        f"| setup ({n} streams) | p50 ms | p99 ms | max ms | lost | foreign | incomplete | wall s (ideal) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with RedisProcess() as redis:
        for name, extra, workers in (
            ("one process, in memory", {}, 1),
            ("1 worker, REDIS_URL", {"REDIS_URL": redis.url}, 1),
            ("2 workers, REDIS_URL", {"REDIS_URL": redis.url}, 2),
        ):
            with server("service:app", {**env, **extra}, workers) as (port, _):
                timeout = 30 + ticks * interval * 10
                stats = uvloop.run(loadgen.concurrent_streams(HOST, port, n, ticks, interval, timeout, f"s{n}x"))
            rows.append(f"| {name} | {stream_cells(stats)} |")
            print(rows[-1], flush=True)
    return rows


def throughput_rows(env: dict[str, str], lines: int) -> tuple[list[str], dict[str, float]]:
    rates: dict[str, float] = {}
    rows = []
    for name, app in APPS.items():
        with server(app, env) as (port, _):
            rate, lost = uvloop.run(loadgen.throughput(HOST, port, lines, timeout=60))
        rates[name] = rate
        rows.append(f"| single-stream throughput, {name} | {fmt(rate, 0)} lines/s, {lost:,} lost |")
        print(rows[-1], flush=True)
    return rows, rates


def first_event_rows(env: dict[str, str], samples: int) -> tuple[list[str], dict[str, float]]:
    medians: dict[str, float] = {}
    rows = []
    for name, app in APPS.items():
        with server(app, env) as (port, _):
            uvloop.run(loadgen.first_event(HOST, port, 10))  # warm up
            times = uvloop.run(loadgen.first_event(HOST, port, samples))
        medians[name] = loadgen.median(times)
        rows.append(
            f"| time to first event, {name} | p50 {fmt(medians[name], 2)} ms, "
            f"p99 {fmt(loadgen.percentile(times, 99), 2)} ms |"
        )
        print(rows[-1], flush=True)
    return rows, medians


async def _idle_measure(
    port: int, pid: int, n: int, heartbeat: float, hold: float, sampled: list[int]
) -> tuple[int, list[float], dict[str, int]]:
    """Run the idle-streams load; append the server's RSS (KiB) once every stream is open."""
    opened = asyncio.Event()
    task = asyncio.create_task(loadgen.idle_streams(HOST, port, n, heartbeat, hold, opened))
    await opened.wait()
    sampled.append(rss_kib(pid))
    return await task


def idle_rows(env: dict[str, str], counts: dict[str, int], heartbeat: float, hold: float) -> list[str]:
    rows = []
    for name, app in {**APPS, **FLOOR}.items():
        n = counts[name]
        with server(app, {**env, "HEARTBEAT_INTERVAL": str(heartbeat)}) as (port, pid):
            time.sleep(0.5)
            before = rss_kib(pid)
            sampled: list[int] = []
            open_streams, lateness, errors = uvloop.run(_idle_measure(port, pid, n, heartbeat, hold, sampled))
        per_stream = (sampled[0] - before) / max(1, open_streams)
        late = (
            f"late by p50 {fmt(loadgen.median(lateness), 3)} s, p99 {fmt(loadgen.percentile(lateness, 99), 3)} s"
            if lateness
            else f"no two heartbeats arrived within the {hold:g} s window"
        )
        failed = f"; failed: {errors}" if errors else ""
        rows.append(
            f"| {n:,} idle streams, {name} | {open_streams:,} open; heartbeat every {heartbeat:g} s {late}; "
            f"{fmt(per_stream, 1)} KiB per stream ({fmt(before / 1024, 0)} → {fmt(sampled[0] / 1024, 0)} MiB){failed} |"
        )
        print(rows[-1], flush=True)
    return rows


def raise_file_limit(wanted: int = 65_536) -> None:
    """20,000 idle streams need 20,000 sockets in the server and as many in the client (its children inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:  # root may raise the hard limit itself
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(wanted, hard), max(wanted, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the benchmark itself")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--scaling-only", action="store_true", help="only the several-process figures, printed")
    parser.add_argument("--tiers-only", action="store_true", help="only the worker tier's concurrency table, printed")
    parser.add_argument("--idle-remote-only", action="store_true", help="only the remote web process's idle streams")
    args = parser.parse_args()
    raise_file_limit()

    # Admission limits raised so that no stream waits for a worker; no run-time limit (the
    # idle streams' jobs wait for an hour).
    env = {
        "KNOWLEDGE_BASE": str(ROOT / "data" / "knowledge.sqlite3"),
        "MAX_CONCURRENT_JOBS": "20000",
        "MAX_QUEUED_JOBS": "1000",
        "JOB_TIMEOUT": "0",
    }
    from bench.tiers import idle_remote_rows, tier_table

    tier_sizes = (100, (1, 2)) if args.quick else (1000, (1, 2, 4))
    idle_remote = 500 if args.quick else 20_000
    if args.scaling_only:
        print("\n".join(scaling_table(env, 100 if args.quick else 1000, ticks=20, interval=0.1)))
        return 0
    if args.tiers_only:
        print("\n".join(tier_table(env, tier_sizes[0], 20, 0.1, tier_sizes[1])))
        return 0
    if args.idle_remote_only:
        print("\n".join(idle_remote_rows(env, idle_remote, 2.0, 6.0 if args.quick else 12.0, workers=4)))
        return 0
    sizes = [1, 20] if args.quick else [1, 100, 500, 1000]
    lines = 5_000 if args.quick else 100_000
    floor = next(iter(FLOOR))
    idle = {"this service": 200, "baseline (seed design)": 100, floor: 200} if args.quick else {
        "this service": 10_000, "baseline (seed design)": 1_000, floor: 10_000}

    out = [f"Machine: {machine()}. Client and servers share it. "
           f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    print(out[0], flush=True)
    out.append("### Concurrent streams: `ticker`, 20 lines at 100 ms intervals each (2-second jobs)")
    out.append("")
    out += concurrency_table(env, sizes, ticks=20, interval=0.1)
    out += ["", "### Several processes sharing Redis (`REDIS_URL`), the same load", ""]
    out += scaling_table(env, 100 if args.quick else 1000, ticks=20, interval=0.1)
    out += ["", "### Web processes that run no job (`JOB_WORKERS=remote`) and worker processes, the same load", ""]
    out += tier_table(env, tier_sizes[0], 20, 0.1, tier_sizes[1])
    out += ["", "### Single stream, first event, idle streams, courses", "", "| measure | result |", "| --- | --- |"]
    rows, rates = throughput_rows(env, lines)
    out += rows
    ours, theirs = APPS
    out.append(f"| throughput, this service ÷ baseline | {ratio(rates[ours], rates[theirs], True)} |")
    rows, firsts = first_event_rows(env, 50 if args.quick else 300)
    out += rows
    out.append(f"| time to first event, baseline ÷ this service | {ratio(firsts[ours], firsts[theirs], False)} |")
    out += idle_rows(env, idle, heartbeat=2.0, hold=6.0 if args.quick else 12.0)
    out += idle_remote_rows(env, idle_remote, 2.0, 6.0 if args.quick else 12.0, workers=4)
    out += course_rows()
    text = "\n".join(out)
    print("\n" + text)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        current = path.read_text(encoding="utf-8")
        start, end = "<!-- results -->", "<!-- /results -->"
        head, found_start, rest = current.partition(start)
        _, found_end, tail = rest.partition(end)
        if not (found_start and found_end):  # never cut the notes that follow the results
            raise SystemExit(f"BENCHMARKS.md: the markers {start} and {end} are not both there")
        path.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
