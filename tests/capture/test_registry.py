"""The job registry: one lifecycle, resumable bounded logs, answers in values."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

import capture
from capture import Complete, Entry, Error, Gap, Limits, MemoryJobRegistry, Progress

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


async def read_all(registry: MemoryJobRegistry, job_id: str, after: int = 0) -> list[Entry | Gap]:
    return [item async for item in registry.entries(job_id, after)]


def text(items: list[Entry | Gap]) -> str:
    return "".join(i.event.text for i in items if isinstance(i, Entry) and isinstance(i.event, Progress))


def terminal(items: list[Entry | Gap]) -> capture.Terminal:
    last = items[-1]
    assert isinstance(last, Entry) and isinstance(last.event, (Complete, Error)), last
    return last.event


async def wait_until_finished(registry: MemoryJobRegistry, job_id: str) -> capture.JobInfo:
    """Poll-free: wait for the job's end through its handle."""
    job = registry.get(job_id)
    assert job is not None
    assert await job.wait_ended(10)
    info = await registry.status(job_id)
    assert info is not None
    return info


@pytest.fixture
async def registry() -> AsyncIterator[MemoryJobRegistry]:
    reg = MemoryJobRegistry(Limits(grace_period=5, retention=5))
    yield reg
    await reg.aclose()


async def test_every_reader_gets_the_same_events_in_order(registry: MemoryJobRegistry) -> None:
    job = await registry.start(functools.partial(printer, 200, 0.001), "printer")
    results: list[list[Entry | Gap]] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def reader() -> None:
                results.append(await read_all(registry, job.id))

            for _ in range(5):
                tg.start_soon(reader)
    info = await registry.status(job.id)
    assert info is not None and info.status == "complete" and info.reason == "complete"
    expected = "".join(f"line {i}\n" for i in range(200))
    assert all(text(r) == expected for r in results)
    assert all([i.seq for i in r if isinstance(i, Entry)] == list(range(1, info.last_seq + 1)) for r in results)


async def test_resuming_after_an_id_gives_exactly_the_rest(registry: MemoryJobRegistry) -> None:
    job = await registry.start(functools.partial(printer, 50, 0.001), "printer")
    with anyio.fail_after(10):
        whole = await read_all(registry, job.id)
        last = len(whole)
        for cut in (0, 1, 7, last - 1, last):
            rest = await read_all(registry, job.id, after=cut)
            assert [i.seq for i in rest if isinstance(i, Entry)] == list(range(cut + 1, last + 1))
            assert text(whole[cut:]) == text(rest)


async def test_a_reader_back_too_late_is_told_what_was_lost() -> None:
    registry = MemoryJobRegistry(Limits(log_events=5, grace_period=5))
    try:
        job = await registry.start(functools.partial(printer, 100, 0.001), "printer")
        with anyio.fail_after(10):
            info = await wait_until_finished(registry, job.id)  # nobody attached: the log keeps its last 5
            items = await read_all(registry, job.id, after=1)
        assert isinstance(items[0], Gap) and items[0].first == 2 and items[0].last == info.last_seq - 5
        assert [i.seq for i in items[1:] if isinstance(i, Entry)] == list(range(info.last_seq - 4, info.last_seq + 1))
    finally:
        await registry.aclose()


async def test_an_attached_slow_reader_loses_nothing_however_small_the_log() -> None:
    registry = MemoryJobRegistry(Limits(log_events=3, grace_period=5))
    try:
        job = await registry.start(functools.partial(printer, 2000), "printer")
        items: list[Entry | Gap] = []
        with anyio.fail_after(20):
            async for item in registry.entries(job.id):
                items.append(item)
                if len(items) % 50 == 0:
                    await anyio.sleep(0.01)  # a slow reader
        assert not any(isinstance(i, Gap) for i in items)
        assert text(items) == "".join(f"line {i}\n" for i in range(2000))
    finally:
        await registry.aclose()


async def test_a_job_nobody_reads_is_stopped_after_the_grace_period_and_says_why() -> None:
    registry = MemoryJobRegistry(Limits(grace_period=0.2))
    try:
        job = await registry.start(sleeper, "sleeper")
        with anyio.fail_after(5):
            async for _ in registry.entries(job.id):
                break  # read one event, then leave
            info = await wait_until_finished(registry, job.id)
            handle = registry.get(job.id)
            assert handle is not None
            assert handle.worker is not None
            await handle.worker.wait_returned()
            items = await read_all(registry, job.id)
        assert info.status == "cancelled" and info.reason == "abandoned"
        assert isinstance(terminal(items), Error) and terminal(items) == info.terminal
    finally:
        await registry.aclose()


async def test_a_reader_coming_back_within_the_grace_period_keeps_the_job() -> None:
    registry = MemoryJobRegistry(Limits(grace_period=2))
    try:
        job = await registry.start(functools.partial(printer, 10, 0.05), "printer")
        with anyio.fail_after(10):
            last = 0
            async for item in registry.entries(job.id):
                assert isinstance(item, Entry)
                last = item.seq
                break
            rest = await read_all(registry, job.id, after=last)
        assert isinstance(terminal(rest), Complete)
    finally:
        await registry.aclose()


async def test_finished_jobs_are_dropped_after_the_retention_time() -> None:
    registry = MemoryJobRegistry(Limits(retention=0.2, max_finished=2))
    try:
        ids = []
        with anyio.fail_after(10):
            for _ in range(3):  # one after the other, so that they finish in this order
                job = await registry.start(functools.partial(printer, 1), "printer")
                await read_all(registry, job.id)
                await wait_until_finished(registry, job.id)
                ids.append(job.id)
            assert await registry.status(ids[0]) is None, "at most two finished jobs are kept"
            assert await registry.status(ids[2]) is not None
            while await registry.status(ids[2]) is not None:  # dropped after the retention time
                await anyio.sleep(0.05)
    finally:
        await registry.aclose()


async def test_cancelling_a_job_ends_its_log_with_the_reason() -> None:
    registry = MemoryJobRegistry()
    try:
        job = await registry.start(sleeper, "sleeper")
        with anyio.fail_after(5):
            async for _ in registry.entries(job.id):
                break
            info = await registry.cancel(job.id)
            items = await read_all(registry, job.id)
        assert info is not None and info.status == "cancelled" and info.reason == "cancelled"
        assert text(items) == "waiting\n"
        end = terminal(items)
        assert isinstance(end, Error) and end.kind == "cancelled" and end.message == "The job was stopped."
        assert await registry.cancel("job_unknown") is None
    finally:
        await registry.aclose()


async def test_cancel_all_tells_every_reader_the_server_is_shutting_down() -> None:
    registry = MemoryJobRegistry()
    try:
        resumable = await registry.start(sleeper, "sleeper")
        direct = await registry.start(sleeper, "sleeper", resumable=False)
        ends: dict[str, capture.Terminal] = {}

        async def reader(job_id: str) -> None:
            ends[job_id] = terminal(await read_all(registry, job_id))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader, resumable.id)
                tg.start_soon(reader, direct.id)
                for job_id in (resumable.id, direct.id):
                    while (info := await registry.status(job_id)) is None or info.last_seq == 0:
                        await anyio.sleep(0.01)  # both readers have the job's first line
                registry.cancel_all("shutdown")
        assert {e.kind for e in ends.values() if isinstance(e, Error)} == {"shutdown"} and len(ends) == 2
        assert registry.running() == 0
    finally:
        await registry.aclose()


async def test_closing_the_registry_stops_running_jobs() -> None:
    registry = MemoryJobRegistry()
    job = await registry.start(sleeper, "sleeper")
    handle = registry.get(job.id)
    assert handle is not None
    with anyio.fail_after(5):
        async for _ in registry.entries(job.id):
            break
        await registry.aclose()
        assert handle.worker is not None
        await handle.worker.wait_returned()
        while registry.running():  # its place is freed once its thread has returned
            await anyio.sleep(0.01)
    assert handle.status == "cancelled"


async def test_a_direct_job_runs_while_its_one_reader_reads(registry: MemoryJobRegistry) -> None:
    job = await registry.start(functools.partial(printer, 20), "printer", resumable=False)
    with anyio.fail_after(5):
        items = await read_all(registry, job.id)
        with pytest.raises(RuntimeError):
            await read_all(registry, job.id)  # one reader only
    info = await registry.status(job.id)
    assert text(items) == "".join(f"line {i}\n" for i in range(20))
    assert info is not None and info.status == "complete" and info.finished is not None
    assert registry.running() == 0


async def test_a_direct_job_stops_when_its_reader_leaves(registry: MemoryJobRegistry) -> None:
    job = await registry.start(sleeper, "sleeper", resumable=False)
    handle = registry.get(job.id)
    assert handle is not None
    with anyio.fail_after(5):
        async for _ in registry.entries(job.id):
            break
        assert handle.worker is not None
        await handle.worker.wait_returned()
    info = await registry.status(job.id)
    assert info is not None and info.status == "cancelled" and info.reason == "abandoned"


async def test_jobs_beyond_the_limit_wait_in_order_and_see_their_position() -> None:
    registry = MemoryJobRegistry(Limits(max_running=2, max_waiting=3))
    try:
        jobs = [await registry.start(functools.partial(printer, 3, 0.05), "printer") for _ in range(5)]
        with pytest.raises(capture.Overloaded):
            await registry.start(functools.partial(printer, 1), "printer")  # 2 running + 3 waiting: full
        assert registry.running() == 2 and registry.waiting() == 3
        with anyio.fail_after(10):
            results = [await read_all(registry, job.id) for job in jobs]
        for index, items in enumerate(results):
            lines = text(items).splitlines()
            ahead = [int(line.split(": ")[1].split()[0]) for line in lines if line.startswith("Waiting")]
            if index < 2:
                assert ahead == [], "the first two start at once"
            else:
                # Positions only go down (two places freed at once skip a number), then it starts.
                assert ahead[0] == index - 2 and ahead == sorted(set(ahead), reverse=True), f"job {index}: {ahead}"
                assert "A worker is free: starting." in lines
            assert isinstance(terminal(items), Complete), "nobody dropped"
        assert registry.running() == 0 and registry.waiting() == 0
    finally:
        await registry.aclose()


async def test_a_job_cancelled_while_waiting_gives_up_its_place() -> None:
    registry = MemoryJobRegistry(Limits(max_running=1, max_waiting=2))
    try:
        first = await registry.start(sleeper, "sleeper")
        second = await registry.start(functools.partial(printer, 1), "printer")
        third = await registry.start(functools.partial(printer, 1), "printer")
        with anyio.fail_after(5):
            reader = registry.entries(third.id)
            items = [await anext(reader)]  # its position, while two are ahead of it
            info = await registry.cancel(second.id)
            assert info is not None and info.status == "cancelled" and registry.waiting() == 1
            await registry.cancel(first.id)
            items += [item async for item in reader]
        assert "Waiting for a free worker: 2 ahead." not in text(items)  # the running job is not "ahead"
        assert "Waiting for a free worker: 1 ahead." in text(items)
        assert "Waiting for a free worker: 0 ahead." in text(items)
        assert isinstance(terminal(items), Complete)
    finally:
        await registry.aclose()


@pytest.mark.parametrize("resumable", [True, False])
async def test_a_job_over_its_run_time_is_stopped_with_a_clear_error(resumable: bool) -> None:
    registry = MemoryJobRegistry(Limits(max_run_time=0.3))
    try:
        job = await registry.start(sleeper, "sleeper", resumable=resumable)
        handle = registry.get(job.id)
        assert handle is not None
        with anyio.fail_after(5):
            items = await read_all(registry, job.id)
            assert handle.worker is not None
            await handle.worker.wait_returned()
        end = terminal(items)
        assert isinstance(end, Error) and end.kind == "timeout" and "limit of 0.3 s" in end.message
        info = await registry.status(job.id)
        assert info is not None and info.status == "failed" and info.reason == "timeout"
    finally:
        await registry.aclose()


async def test_one_huge_print_is_split_into_events_within_the_limit() -> None:
    registry = MemoryJobRegistry(Limits(max_event_chars=1000))
    try:
        huge = "x" * 4500 + "\n" + "y" * 10 + "\n"
        job = await registry.start(functools.partial(print, huge, end=""), "print", resumable=False)
        with anyio.fail_after(5):
            items = await read_all(registry, job.id)
        progress = [i.event.text for i in items if isinstance(i, Entry) and isinstance(i.event, Progress)]
        assert "".join(progress) == huge
        assert max(len(p) for p in progress) <= 1000
    finally:
        await registry.aclose()


async def test_an_unknown_job_is_refused_with_unknown_job(registry: MemoryJobRegistry) -> None:
    assert await registry.status("job_0") is None
    with pytest.raises(capture.UnknownJob):
        await read_all(registry, "job_0")
