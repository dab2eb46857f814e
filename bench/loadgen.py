"""A load client for any server that speaks the OpenAI streaming format and runs ``ticker``.

It speaks HTTP/1.1 over raw asyncio connections and scans the bytes for ``tick``
lines: a full HTTP client and a JSON decode per chunk would cost more CPU than
the servers under test, on the same two cores.  Every printed line carries the
time it was printed (``time.time_ns()``), so its delay to the client is the
receive time minus that stamp; every stream has its own token, so a line with
another stream's token is foreign and a missing index is lost.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

TICK = re.compile(rb"tick (\d+) (\d+) ([0-9A-Za-z_-]+)")
HEARTBEAT = re.compile(rb'"delta": ?\{\}, ?"finish_reason": ?null')
DONE = b"data: [DONE]"


@dataclass
class StreamResult:
    token: str
    ticks: int
    sent_ns: int = 0
    first_ns: int = 0
    end_ns: int = 0
    received: list[int] = field(default_factory=list)
    delays_ms: list[float] = field(default_factory=list)
    foreign: int = 0
    heartbeats: list[int] = field(default_factory=list)  # receive times, ns
    done: bool = False
    error: str = ""

    @property
    def lost(self) -> int:
        return self.ticks - len(set(self.received))

    @property
    def duplicated(self) -> int:
        return len(self.received) - len(set(self.received))


def request_bytes(host: str, port: int, ticks: int, interval: float, token: str) -> bytes:
    content = json.dumps({"ticks": ticks, "interval": interval, "token": token})
    body = json.dumps(
        {"model": "ticker", "stream": True, "messages": [{"role": "user", "content": content}]}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _StreamProtocol(asyncio.Protocol):
    """One stream's connection: every chunk is scanned in ``data_received``, as it arrives.

    A protocol rather than ``StreamReader`` reads: no task or timer per read, so the
    client's own CPU use (on the machine it shares with the server) stays small.
    """

    def __init__(self, result: StreamResult, request: bytes, started: list[str] | None) -> None:
        self.result = result
        self.request = request
        self.started = started
        self.token = result.token.encode()
        self.head = b""
        self.tail = b""
        self.in_body = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, but it is one.
        self.transport = cast(asyncio.Transport, transport)
        self.result.sent_ns = time.time_ns()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        result = self.result
        if not self.in_body:
            self.head += data
            cut = self.head.find(b"\r\n\r\n")
            if cut < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 200"):
                result.error = self.head.split(b"\r\n", 1)[0].decode()
                self.close()
                return
            self.in_body = True
            data, self.head = self.head[cut + 4 :], b""
        buffer = self.tail + data if self.tail else data
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            self.tail = buffer
            return
        complete, self.tail = buffer[: cut + 2], buffer[cut + 2 :]
        for match in TICK.finditer(complete):
            if match.group(3) != self.token:
                result.foreign += 1
                continue
            if not result.first_ns:
                result.first_ns = now
                if self.started is not None:
                    self.started.append(result.token)
            result.received.append(int(match.group(1)))
            result.delays_ms.append((now - int(match.group(2))) / 1e6)
        beats = len(HEARTBEAT.findall(complete))
        if beats:
            result.heartbeats.extend([now] * beats)
        if DONE in complete:
            result.done = True
            result.end_ns = now
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.result.error:
            self.result.error = type(exc).__name__
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def one_stream(
    host: str,
    port: int,
    ticks: int,
    interval: float,
    token: str,
    deadline: float,
    stop: asyncio.Event | None = None,
    started: list[str] | None = None,
    source: str | None = None,
) -> StreamResult:
    """Run one ticker stream to its end (or the deadline, or ``stop``), recording every line's delay.

    ``source``: the local address to connect from (each address has its own ~28,000 ports).
    """
    result = StreamResult(token, ticks)
    protocol = _StreamProtocol(result, request_bytes(host, port, ticks, interval, token), started)
    try:
        await asyncio.get_running_loop().create_connection(
            lambda: protocol, host, port, local_addr=(source, 0) if source else None)
    except OSError as exc:
        result.error = type(exc).__name__
        return result
    waits: list[asyncio.Future[Any]] = [protocol.closed]
    stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
    if stopped is not None:
        waits.append(stopped)
    await asyncio.wait(waits, timeout=max(0.0, deadline - time.monotonic()), return_when=asyncio.FIRST_COMPLETED)
    if stopped is not None:
        stopped.cancel()
    if not protocol.closed.done():
        result.error = result.error or "deadline"
        protocol.close()
        await protocol.closed
    elif not result.done and not result.error and not protocol.in_body:
        result.error = "closed before a response"
    return result


@dataclass
class RunStats:
    streams: int
    wall_s: float
    ideal_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: int
    foreign: int
    duplicated: int
    incomplete: int
    lines: int
    errors: dict[str, int]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _ports(port: int | Sequence[int]) -> Sequence[int]:
    return [port] if isinstance(port, int) else port


async def concurrent_streams(
    host: str, port: int | Sequence[int], n: int, ticks: int, interval: float, timeout: float, label: str
) -> RunStats:
    """N streams at once, each a ``ticks`` × ``interval`` ticker with its own token.

    With several ports (web processes), stream i goes to port i mod their number, as a
    round-robin proxy in front of them would send it.
    """
    ports = _ports(port)
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    results = await asyncio.gather(
        *(one_stream(host, ports[i % len(ports)], ticks, interval, f"{label}{i}", deadline) for i in range(n))
    )
    wall = time.monotonic() - started
    delays = [d for r in results for d in r.delays_ms]
    return RunStats(
        streams=n,
        wall_s=wall,
        ideal_s=(ticks - 1) * interval,
        p50_ms=percentile(delays, 50),
        p99_ms=percentile(delays, 99),
        max_ms=max(delays) if delays else float("nan"),
        lost=sum(r.lost for r in results),
        foreign=sum(r.foreign for r in results),
        duplicated=sum(r.duplicated for r in results),
        incomplete=sum(1 for r in results if not r.done),
        lines=len(delays),
        errors=_count(r.error or "ended without [DONE]" for r in results if not r.done),
    )


def _count(kinds: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


async def throughput(host: str, port: int, lines: int, timeout: float) -> tuple[float, int]:
    """One stream printing ``lines`` lines as fast as it can: (lines per second received, lost)."""
    deadline = time.monotonic() + timeout
    result = await one_stream(host, port, lines, 0.0, "tp", deadline)
    end = result.end_ns or time.time_ns()
    seconds = (end - result.sent_ns) / 1e9
    return len(set(result.received)) / seconds, result.lost


async def first_event(host: str, port: int, samples: int) -> list[float]:
    """Milliseconds from sending a request to receiving its first printed line, one request at a time."""
    times = []
    for i in range(samples):
        result = await one_stream(host, port, 1, 0.0, f"fe{i}", time.monotonic() + 10)
        if result.first_ns:
            times.append((result.first_ns - result.sent_ns) / 1e6)
    return times


async def idle_streams(
    host: str, port: int, n: int, heartbeat: float, hold: float, opened: asyncio.Event | None = None,
    sources: Sequence[str] = (),
    arrivals_per_s: float = 2_000,
) -> tuple[int, list[float], dict[str, int]]:
    """Open ``n`` streams whose jobs stay silent and hold them for ``hold`` s once all are open.

    Returns the streams that were open, the heartbeats' lateness (seconds) over the
    holding window, and the errors of streams that failed, by kind.  ``sources``: local
    addresses to spread the connections over (one address has ~28,000 ports, fewer once
    earlier runs' connections sit in TIME_WAIT).  ``arrivals_per_s``: how fast new clients come.
    """
    stop = asyncio.Event()
    deadline = time.monotonic() + 3600
    started: list[str] = []
    tasks = []
    for i in range(n):
        # A ticker whose second tick is an hour away: the job waits, silent, for the whole test.
        source = sources[i % len(sources)] if sources else None
        tasks.append(asyncio.create_task(
            one_stream(host, port, 2, 3600.0, f"idle{i}", deadline, stop, started, source)))
        if i % 100 == 99:
            await asyncio.sleep(100 / arrivals_per_s)  # clients arrive over a few seconds, not in one instant
    give_up = time.monotonic() + 120
    while len(started) < n and time.monotonic() < give_up and not all(t.done() for t in tasks):
        await asyncio.sleep(0.1)
    await asyncio.sleep(heartbeat * 1.5)  # let the opening burst settle
    if opened is not None:
        opened.set()
    window_start = time.time_ns()
    await asyncio.sleep(hold)
    window_end = time.time_ns()
    stop.set()
    results = await asyncio.gather(*tasks)
    lateness: list[float] = []
    errors: dict[str, int] = {}
    for result in results:
        beats = [t for t in result.heartbeats if window_start <= t <= window_end]
        lateness.extend(max(0.0, (b - a) / 1e9 - heartbeat) for a, b in itertools.pairwise(beats))
        if not result.received:
            errors[result.error or "no first line"] = errors.get(result.error or "no first line", 0) + 1
    return len(started), lateness, errors


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
