"""The benchmark's own tools: the load client counts what it should, and every server it measures
serves the stream it expects."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bench import loadgen, run


def _feed(chunks: list[bytes], token: str = "mine", ticks: int = 3) -> tuple[loadgen.StreamResult, bool]:
    """Run the load client's protocol over ``chunks`` as if they came from a server."""

    async def scenario() -> tuple[loadgen.StreamResult, bool]:
        result = loadgen.StreamResult(token, ticks)
        protocol = loadgen._StreamProtocol(result, b"", None)
        for chunk in chunks:
            protocol.data_received(chunk)
        return result, protocol.in_body

    return asyncio.run(scenario())


def _tick(i: int, token: str, printed_ns: int) -> bytes:
    return (
        b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"tick %d %d %s\\n"},"finish_reason":null}]}\n\n'
        % (i, printed_ns, token.encode())
    )


def test_the_client_counts_lost_foreign_and_heartbeats_across_split_reads() -> None:
    now = time.time_ns()
    body = (
        _tick(0, "mine", now)
        + _tick(1, "other", now)  # another stream's line: foreign
        + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":null}]}\n\n'  # a heartbeat
        + _tick(2, "mine", now)  # tick 1 of "mine" never comes: lost
        + b"data: [DONE]\n\n"
    )
    stream = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n" + body
    # Cut the bytes at awkward places: inside the head, inside an event, between events.
    cuts = [10, 40, len(stream) // 2, len(stream) - 5]
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    result, in_body = _feed(chunks)
    assert in_body and result.done
    assert sorted(result.received) == [0, 2] and result.lost == 1 and result.foreign == 1
    assert len(result.heartbeats) == 1
    assert all(0 <= delay < 60_000 for delay in result.delays_ms)


def test_the_client_reports_a_refused_request() -> None:
    result, in_body = _feed([b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n"])
    assert not in_body and not result.done and result.error == "HTTP/1.1 429 Too Many Requests"


@pytest.mark.integration
@pytest.mark.parametrize("app", ["service:app", "bench.baseline:app", "bench.floor:app"])
def test_every_benchmarked_server_streams_the_ticker_to_the_load_client(app: str, default_kb: Path) -> None:
    with run.server(app, {"KNOWLEDGE_BASE": str(default_kb)}) as (port, _):
        stats = asyncio.run(loadgen.concurrent_streams("127.0.0.1", port, 1, 5, 0.02, 20, "one"))
    assert (stats.lines, stats.lost, stats.foreign, stats.incomplete) == (5, 0, 0, 0), stats
    assert 0 <= stats.p50_ms < 1000 and stats.wall_s >= stats.ideal_s


@pytest.mark.integration
def test_concurrent_streams_each_get_exactly_their_own_lines(default_kb: Path) -> None:
    with run.server("service:app", {"KNOWLEDGE_BASE": str(default_kb)}) as (port, _):
        stats = asyncio.run(loadgen.concurrent_streams("127.0.0.1", port, 50, 5, 0.02, 30, "many"))
    assert (stats.lines, stats.lost, stats.foreign, stats.duplicated, stats.incomplete) == (250, 0, 0, 0, 0)


@pytest.mark.integration
def test_the_worker_tier_serves_the_load_client_from_both_web_processes(default_kb: Path) -> None:
    from bench import tiers
    from tests.redis_server import RedisProcess

    with RedisProcess() as redis, tiers.tier({"KNOWLEDGE_BASE": str(default_kb)}, redis, 2, 1, 20) as setup:
        stats, used = tiers.measure(setup.ports, setup.pids, 20, 5, 0.02, "tier")
    assert len(set(setup.ports)) == 2
    assert (stats.lines, stats.lost, stats.foreign, stats.duplicated, stats.incomplete) == (100, 0, 0, 0, 0), stats
    assert used["worker"] > 0 and used["web"] > 0, "the worker ran the jobs, the web processes served them"
