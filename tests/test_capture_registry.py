"""The job registry: shared, resumable, bounded event logs."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

import capture
from capture import Complete, Entry, Gap, MemoryJobRegistry, Progress, RegistryLimits

pytestmark = pytest.mark.anyio


def printer(lines: int, pause: float = 0.0) -> Iterator[dict[str, Any]]:
    for i in range(lines):
        print(f"line {i}")
        if pause:
            capture.sleep(pause)
    yield {"type": "complete", "results": {"lines": lines}}


def sleeper() -> None:
    print("waiting")
    capture.sleep(60)


async def read_all(job: capture.Job, after: int = 0) -> list[Entry | Gap]:
    return [item async for item in job.entries(after)]


def text(items: list[Entry | Gap]) -> str:
    return "".join(i.event.text for i in items if isinstance(i, Entry) and isinstance(i.event, Progress))


@pytest.fixture
async def registry() -> AsyncIterator[MemoryJobRegistry]:
    reg = MemoryJobRegistry(RegistryLimits(grace_period=5, retention=5))
    yield reg
    await reg.aclose()


async def test_every_reader_gets_the_same_events_in_order(registry: MemoryJobRegistry) -> None:
    job = registry.start(functools.partial(printer, 200, 0.001), "printer")
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            results: list[list[Entry | Gap]] = []

            async def reader() -> None:
                results.append(await read_all(job))

            for _ in range(5):
                tg.start_soon(reader)
    expected = "".join(f"line {i}\n" for i in range(200))
    assert all(text(r) == expected for r in results)
    assert all([i.seq for i in r if isinstance(i, Entry)] == list(range(1, job.last_seq + 1)) for r in results)
    assert job.status == "complete" and isinstance(job.terminal, Complete)


async def test_resuming_after_an_id_gives_exactly_the_rest(registry: MemoryJobRegistry) -> None:
    job = registry.start(functools.partial(printer, 50, 0.001), "printer")
    with anyio.fail_after(10):
        whole = await read_all(job)
        for cut in (0, 1, 7, job.last_seq - 1, job.last_seq):
            rest = await read_all(job, after=cut)
            assert [i.seq for i in rest if isinstance(i, Entry)] == list(range(cut + 1, job.last_seq + 1))
            assert text(whole[cut:]) == text(rest)


async def test_a_reader_back_too_late_is_told_what_was_lost() -> None:
    registry = MemoryJobRegistry(RegistryLimits(log_events=5, grace_period=5))
    try:
        job = registry.start(functools.partial(printer, 100, 0.001), "printer")
        with anyio.fail_after(10):
            while job.finished is None:  # nobody attached: the log keeps only its last 5 events
                await anyio.sleep(0.01)
            items = await read_all(job, after=1)
        assert isinstance(items[0], Gap) and items[0].first == 2 and items[0].last == job.last_seq - 5
        assert [i.seq for i in items[1:] if isinstance(i, Entry)] == list(range(job.last_seq - 4, job.last_seq + 1))
    finally:
        await registry.aclose()


async def test_an_attached_slow_reader_loses_nothing_however_small_the_log() -> None:
    registry = MemoryJobRegistry(RegistryLimits(log_events=3, grace_period=5))
    try:
        job = registry.start(functools.partial(printer, 2000), "printer")
        items: list[Entry | Gap] = []
        with anyio.fail_after(20):
            async for item in job.entries():
                items.append(item)
                if len(items) % 50 == 0:
                    await anyio.sleep(0.01)  # a slow reader
        assert not any(isinstance(i, Gap) for i in items)
        assert text(items) == "".join(f"line {i}\n" for i in range(2000))
    finally:
        await registry.aclose()


async def test_a_job_nobody_reads_is_cancelled_after_the_grace_period() -> None:
    registry = MemoryJobRegistry(RegistryLimits(grace_period=0.2))
    try:
        job = registry.start(sleeper, "sleeper")
        with anyio.fail_after(5):
            async for _ in job.entries():
                break  # read one event, then leave
            await anyio.sleep(0.5)
            assert job.status == "cancelled"
            await job.stream.wait_finished()
        assert job.stream.finished
    finally:
        await registry.aclose()


async def test_a_reader_coming_back_within_the_grace_period_keeps_the_job() -> None:
    registry = MemoryJobRegistry(RegistryLimits(grace_period=0.3))
    try:
        job = registry.start(functools.partial(printer, 10, 0.1), "printer")
        with anyio.fail_after(5):
            async for item in job.entries():
                assert isinstance(item, Entry)
                last = item.seq
                break
            await anyio.sleep(0.15)  # away for half the grace period
            rest = await read_all(job, after=last)
        assert job.status == "complete"
        assert isinstance(rest[-1], Entry) and isinstance(rest[-1].event, Complete)
    finally:
        await registry.aclose()


async def test_finished_jobs_are_dropped_after_the_retention_time() -> None:
    registry = MemoryJobRegistry(RegistryLimits(retention=0.1, max_finished=2))
    try:
        jobs = [registry.start(functools.partial(printer, 1), "printer") for _ in range(3)]
        with anyio.fail_after(5):
            for job in jobs:
                await read_all(job)
            assert registry.get(jobs[0].id) is None, "at most two finished jobs are kept"
            assert registry.get(jobs[2].id) is jobs[2]
            await anyio.sleep(0.3)
        assert registry.get(jobs[2].id) is None
    finally:
        await registry.aclose()


async def test_closing_the_registry_cancels_running_jobs() -> None:
    registry = MemoryJobRegistry()
    job = registry.start(sleeper, "sleeper")
    with anyio.fail_after(5):
        async for _ in job.entries():
            break
        await registry.aclose()
        await job.stream.wait_finished()
    assert job.status == "cancelled" and registry.running() == 0


async def test_a_direct_job_runs_while_its_one_reader_reads(registry: MemoryJobRegistry) -> None:
    job = registry.start(functools.partial(printer, 20), "printer", grace_period=0, direct=True)
    with anyio.fail_after(5):
        items = await read_all(job)
        with pytest.raises(RuntimeError):
            await read_all(job)  # one reader only
    assert text(items) == "".join(f"line {i}\n" for i in range(20))
    assert job.status == "complete" and job.finished is not None and registry.running() == 0


async def test_a_direct_job_stops_when_its_reader_leaves(registry: MemoryJobRegistry) -> None:
    job = registry.start(sleeper, "sleeper", grace_period=0, direct=True)
    with anyio.fail_after(5):
        async for _ in job.entries():
            break
        await job.stream.wait_finished()
    assert job.status == "cancelled"


async def test_closing_the_registry_ends_a_direct_reader() -> None:
    registry = MemoryJobRegistry()
    job = registry.start(sleeper, "sleeper", grace_period=0, direct=True)
    seen: list[Entry | Gap] = []

    async def reader() -> None:
        async for item in job.entries():
            seen.append(item)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            while not seen:
                await anyio.sleep(0.01)
            await registry.aclose()  # the reader's loop ends by itself
        await job.stream.wait_finished()
    assert job.status == "cancelled"


async def test_jobs_beyond_the_limit_wait_in_order_and_see_their_position() -> None:
    registry = MemoryJobRegistry(RegistryLimits(max_running=2, max_waiting=3))
    try:
        jobs = [registry.start(functools.partial(printer, 3, 0.05), "printer") for _ in range(5)]
        with pytest.raises(capture.Overloaded):
            registry.start(functools.partial(printer, 1), "printer")  # 2 running + 3 waiting: full
        assert registry.running() == 2 and registry.waiting() == 3
        with anyio.fail_after(10):
            results = [await read_all(job) for job in jobs]
        for index, items in enumerate(results):
            lines = text(items).splitlines()
            ahead = [int(line.split(": ")[1].split()[0]) for line in lines if line.startswith("Waiting")]
            if index < 2:
                assert ahead == [], "the first two start at once"
            else:
                # Positions only go down (two places freed at once skip a number), then it starts.
                assert ahead[0] == index - 2 and ahead == sorted(set(ahead), reverse=True), f"job {index}: {ahead}"
                assert "A worker is free: starting." in lines
            assert isinstance(items[-1], Entry) and isinstance(items[-1].event, Complete), "nobody dropped"
        assert registry.running() == 0 and registry.waiting() == 0
    finally:
        await registry.aclose()


async def test_a_job_cancelled_while_waiting_gives_up_its_place() -> None:
    registry = MemoryJobRegistry(RegistryLimits(max_running=1, max_waiting=2))
    try:
        first = registry.start(sleeper, "sleeper")
        second = registry.start(functools.partial(printer, 1), "printer")
        third = registry.start(functools.partial(printer, 1), "printer")
        with anyio.fail_after(5):
            await second.stop()
            assert second.status == "cancelled" and registry.waiting() == 1
            await first.stop()
            items = await read_all(third)
        assert "Waiting for a free worker: 1 ahead." in text(items)
        assert "Waiting for a free worker: 0 ahead." in text(items)
        assert third.status == "complete"
    finally:
        await registry.aclose()


@pytest.mark.parametrize("direct", [False, True])
async def test_a_job_over_its_run_time_is_stopped_with_a_clear_error(direct: bool) -> None:
    registry = MemoryJobRegistry(RegistryLimits(max_run_time=0.3))
    try:
        job = registry.start(sleeper, "sleeper", direct=direct)
        with anyio.fail_after(5):
            items = await read_all(job)
            await job.stream.wait_finished()
        last = items[-1]
        assert isinstance(last, Entry) and isinstance(last.event, capture.Error)
        assert last.event.kind == "timeout" and "limit of 0.3 s" in last.event.message
        assert job.status == "failed"
    finally:
        await registry.aclose()


async def test_one_huge_print_is_split_into_events_within_the_limit() -> None:
    registry = MemoryJobRegistry(RegistryLimits(max_event_chars=1000))
    try:
        huge = "x" * 4500 + "\n" + "y" * 10 + "\n"
        job = registry.start(functools.partial(print, huge, end=""), "print", direct=True)
        with anyio.fail_after(5):
            items = await read_all(job)
        progress = [i.event.text for i in items if isinstance(i, Entry) and isinstance(i.event, Progress)]
        assert "".join(progress) == huge
        assert max(len(p) for p in progress) <= 1000
    finally:
        await registry.aclose()
