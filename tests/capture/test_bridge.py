"""The janus bridge: concurrency, real time, threads, cancellation, failure, back-pressure."""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest

import capture
from capture import Complete, Content, Error, Event, Progress
from capture._bridge import MAX_BATCH

pytestmark = pytest.mark.anyio


async def collect(stream: capture.Bridge) -> list[Event]:
    return [event async for event in stream]


def progress_text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Progress))


def merged(events: list[Event]) -> list[Event]:
    """Adjacent progress events joined: the bridge may coalesce them when the reader is behind."""
    out: list[Event] = []
    for event in events:
        if out and isinstance(event, Progress) and isinstance(out[-1], Progress):
            out[-1] = Progress(out[-1].text + event.text)
        else:
            out.append(event)
    return out


# -- the job protocol ---------------------------------------------------------


async def test_seed_style_generator_job() -> None:
    def job(subject: str) -> Iterator[dict[str, Any]]:
        print(f"PHASE 1: {subject}")
        yield {"type": "progress", "content": "yielded progress\n"}
        yield {"type": "content", "content": "# Title\n"}
        print("done")
        yield {"type": "complete", "results": {"markdown": "# Title\n"}}

    with anyio.fail_after(5):
        async with capture.run_job(job, "generators") as stream:
            events = await collect(stream)
    assert merged(events) == [
        Progress("PHASE 1: generators\nyielded progress\n"),
        Content("# Title\n"),
        Progress("done\n"),
        Complete({"markdown": "# Title\n"}),
    ]


async def test_plain_function_job_completes_with_its_return_value() -> None:
    def job() -> dict[str, int]:
        print("working")
        return {"answer": 42}

    with anyio.fail_after(5):
        async with capture.run_job(job) as stream:
            events = await collect(stream)
    assert events == [Progress("working\n"), Complete({"answer": 42})]


async def test_generator_without_complete_still_completes() -> None:
    def job() -> Iterator[dict[str, Any]]:
        yield {"type": "content", "content": "x"}

    with anyio.fail_after(5):
        async with capture.run_job(job) as stream:
            events = await collect(stream)
    assert events == [Content("x"), Complete({})]


async def test_partial_lines_are_sent_on_yield_flush_and_end() -> None:
    def job() -> Iterator[dict[str, Any]]:
        print("a", end="")
        yield {"type": "content", "content": "1"}
        print("b", end="", flush=True)
        print("c", end="")

    with anyio.fail_after(5):
        async with capture.run_job(job) as stream:
            events = await collect(stream)
    assert merged(events) == [Progress("a"), Content("1"), Progress("bc"), Complete({})]
    assert Progress("b") in events or Progress("bc") in events


# -- concurrency ----------------------------------------------------------------


async def test_fifty_concurrent_jobs_each_receive_exactly_their_own_lines() -> None:
    lines_per_job = 200
    barrier = threading.Barrier(50)

    def job(n: int) -> Iterator[dict[str, Any]]:
        barrier.wait(timeout=10)  # make sure all 50 really print at the same time
        for i in range(lines_per_job):
            print(f"job {n} line {i}")
            if i % 50 == 0:
                yield {"type": "progress", "content": f"job {n} yield {i}\n"}
                time.sleep(0)  # let other threads interleave

    results: dict[int, str] = {}

    async def consume(n: int) -> None:
        async with capture.run_job(job, n) as stream:
            events = await collect(stream)
        assert isinstance(events[-1], Complete)
        results[n] = progress_text(events)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for n in range(50):
                tg.start_soon(consume, n)

    for n in range(50):
        expected = []
        for i in range(lines_per_job):
            expected.append(f"job {n} line {i}\n")
            if i % 50 == 0:
                expected.append(f"job {n} yield {i}\n")
        assert results[n] == "".join(expected), f"job {n} got foreign or missing lines"


async def test_non_job_threads_write_to_the_real_stdout_while_jobs_run() -> None:
    target = io.StringIO()
    sys.stdout = target
    release = threading.Event()

    def job() -> None:
        print("from the job")
        release.wait(5)

    with anyio.fail_after(5):
        async with capture.run_job(job) as stream:
            first = await stream.__anext__()
            print("from the event loop thread")
            outsider = threading.Thread(target=print, args=("from a plain thread",))
            outsider.start()
            outsider.join()
            release.set()
            rest = await collect(stream)
    assert first == Progress("from the job\n")
    assert rest == [Complete({})]
    assert target.getvalue() == "from the event loop thread\nfrom a plain thread\n"


# -- real time ----------------------------------------------------------------


async def test_a_printed_line_arrives_before_the_job_next_yields() -> None:
    seen = threading.Event()

    def job() -> Iterator[dict[str, Any]]:
        print("first line")
        # The job does not yield until the consumer has the line: if lines only
        # travelled on yield (as in the seed design) this would never finish.
        if not seen.wait(5):
            raise AssertionError("the line was not delivered before the yield")
        yield {"type": "content", "content": "after"}

    with anyio.fail_after(6):
        async with capture.run_job(job) as stream:
            first = await stream.__anext__()
            assert first == Progress("first line\n")
            seen.set()
            assert await collect(stream) == [Content("after"), Complete({})]


# -- threads started by the job ----------------------------------------------------


async def test_output_of_helper_threads_belongs_to_the_job() -> None:
    def job() -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(capture.bind(print), f"pool {i}") for i in range(8)]
            for future in futures:
                future.result()
        thread = capture.Thread(target=print, args=("thread",))
        thread.start()
        thread.join()

    with anyio.fail_after(5):
        async with capture.run_job(job) as stream:
            events = await collect(stream)
    lines = progress_text(events).splitlines()
    assert sorted(lines) == sorted([f"pool {i}" for i in range(8)] + ["thread"])


async def test_plain_threads_belong_to_the_job_that_started_them() -> None:
    target = io.StringIO()
    sys.stdout = target

    def job(n: int) -> None:
        thread = threading.Thread(target=print, args=(f"orphan of {n}",))
        thread.start()
        thread.join()
        print(f"job {n}")

    async def run(n: int) -> list[Event]:
        async with capture.run_job(job, n) as stream:
            return await collect(stream)

    with anyio.fail_after(5):
        first = await run(1)
        second = await run(2)
    assert progress_text(first) == "orphan of 1\njob 1\n" and first[-1] == Complete({})
    assert progress_text(second) == "orphan of 2\njob 2\n" and second[-1] == Complete({})
    assert target.getvalue() == ""


# -- subprocesses -------------------------------------------------------------------


async def test_an_unbuffered_childs_lines_arrive_whole_whichever_pipe_they_come_from() -> None:
    # Unbuffered, print() writes its text and its newline in two writes: the line must
    # still arrive in one piece, never spliced with a line of the other pipe.
    script = (
        "import sys\n"
        "for i in range(200):\n"
        "    print('out', i)\n"
        "    print('err', i, file=sys.stderr)\n"
    )

    def job() -> None:
        capture.run_process([sys.executable, "-c", script], env={**os.environ, "PYTHONUNBUFFERED": "1"})

    with anyio.fail_after(30):
        async with capture.run_job(job) as stream:
            events = await collect(stream)
    assert isinstance(events[-1], Complete)
    lines = progress_text(events).splitlines()
    assert sorted(lines) == sorted([f"out {i}" for i in range(200)] + [f"err {i}" for i in range(200)])
    assert [line for line in lines if line.startswith("out")] == [f"out {i}" for i in range(200)]


async def test_a_childs_half_written_line_is_shown_once_it_pauses(tmp_path: Path) -> None:
    go_on = tmp_path / "go-on"
    script = (
        "import os, sys, time\n"
        "sys.stdout.write('Downloading... '); sys.stdout.flush()\n"
        f"while not os.path.exists({str(go_on)!r}): time.sleep(0.01)\n"
        "print('done')\n"
    )

    def job() -> None:
        capture.run_process([sys.executable, "-c", script])

    with anyio.fail_after(30):
        async with capture.run_job(job) as stream:
            first = await stream.__anext__()
            assert first == Progress("Downloading... ")
            go_on.touch()
            rest = await collect(stream)
    assert progress_text(rest) == "done\n" and isinstance(rest[-1], Complete)


async def test_a_thread_that_outlives_its_job_is_stopped_and_says_so_in_the_server_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job_done = threading.Event()
    thread_done = threading.Event()
    printed_after: list[bool] = []

    def late() -> None:
        try:
            job_done.wait(5)
            print("too late")
            printed_after.append(True)
        finally:
            thread_done.set()

    def job() -> str:
        threading.Thread(target=late, name="late-worker").start()
        return "answer"

    caplog.set_level(logging.INFO, logger="capture")
    with anyio.fail_after(5):
        async with capture.run_job(job) as stream:
            events = await collect(stream)
        job_done.set()
        while not thread_done.is_set():
            await anyio.sleep(0.01)
    assert isinstance(events[-1], Complete)
    assert not printed_after and "too late" not in progress_text(events)
    assert any("its thread late-worker was stopped at the job's end" in r.getMessage() for r in caplog.records)


# -- cancellation ---------------------------------------------------------------


async def test_closing_the_stream_stops_the_job_within_one_print() -> None:
    printed_after_close: list[int] = []
    closed = threading.Event()
    swallowed: list[BaseException] = []

    def job() -> None:
        i = 0
        while True:
            i += 1
            try:
                print(f"line {i}")
            except Exception as exc:  # noqa: BLE001 - agent code like this must not swallow cancellation
                swallowed.append(exc)
            if closed.is_set():
                printed_after_close.append(i)

    with anyio.fail_after(5):
        worker = capture.run_job(job, queue_size=4)
        async with worker as stream:
            async for event in stream:
                assert isinstance(event, Progress)
                break
        closed.set()
        await worker.wait_returned()
    assert worker.thread is not None
    worker.thread.join(1)  # it has returned from the job; let it finish exiting
    assert not worker.thread.is_alive()
    assert len(printed_after_close) <= 1
    assert swallowed == []


async def test_cancelling_the_consumer_task_stops_a_waiting_job() -> None:
    started = threading.Event()

    def job() -> None:
        started.set()
        capture.sleep(60)

    worker = capture.run_job(job)

    async def consume() -> None:
        async with worker as stream:
            await collect(stream)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            while not started.is_set():
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        await worker.wait_returned()
    assert worker.returned


async def test_a_producer_blocked_on_a_full_queue_is_released_by_cancellation() -> None:
    def job() -> None:
        while True:
            print("x" * 100)

    with anyio.fail_after(5):
        worker = capture.run_job(job, queue_size=2)
        async with worker as stream:
            await stream.__anext__()
            while not stream.queue_full():  # the producer fills the queue and blocks
                await anyio.sleep(0.01)
        await worker.wait_returned()
    assert worker.returned


async def test_cancellation_runs_the_job_cleanup() -> None:
    cleaned = threading.Event()

    def job() -> Iterator[dict[str, Any]]:
        try:
            while True:
                yield {"type": "progress", "content": "tick\n"}
                capture.sleep(0.01)
        finally:
            cleaned.set()

    with anyio.fail_after(5):
        worker = capture.run_job(job)
        async with worker as stream:
            await stream.__anext__()
        await worker.wait_returned()
    assert cleaned.is_set()


async def test_bound_threads_see_the_cancellation_too() -> None:
    child_stopped = threading.Event()

    def child() -> None:
        try:
            while True:
                print("child")
                capture.sleep(0.01)
        except capture.JobCancelled:
            child_stopped.set()
            raise

    def job() -> None:
        thread = capture.Thread(target=child)
        thread.start()
        thread.join()

    with anyio.fail_after(5):
        worker = capture.run_job(job)
        async with worker as stream:
            await stream.__anext__()
        await worker.wait_returned()
        while not child_stopped.is_set():
            await anyio.sleep(0.01)


async def test_a_job_whose_thread_cannot_start_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    with anyio.fail_after(5):
        async with capture.run_job(print, "warm-up") as warm_up:  # the starter thread is running
            await collect(warm_up)
    monkeypatch.setattr(threading.Thread, "start", refuse)  # ... and now no job thread can start
    ran = threading.Event()
    with anyio.fail_after(5):
        async with capture.run_job(ran.set) as stream:
            events = await collect(stream)
    assert events == [Error("the server could not start this job; try again later", kind="overloaded")]
    assert not ran.is_set()


# -- failure ----------------------------------------------------------------------


async def test_a_failing_job_ends_with_one_short_error_event(caplog: pytest.LogCaptureFixture) -> None:
    def job() -> Iterator[dict[str, Any]]:
        print("about to fail")
        yield {"type": "content", "content": "partial"}
        raise ValueError("the knowledge base is on fire\nsecond line with details")

    with caplog.at_level(logging.ERROR, logger="capture"), anyio.fail_after(5):
        async with capture.run_job(job) as stream:
            events = await collect(stream)
    assert events[:2] == [Progress("about to fail\n"), Content("partial")]
    assert events[2:] == [Error("ValueError: the knowledge base is on fire")]
    assert "Traceback" not in events[2].message  # type: ignore[union-attr]
    assert any(record.exc_info for record in caplog.records), "the traceback goes to the server log"


async def test_an_unknown_event_type_is_an_error() -> None:
    def job() -> Iterator[dict[str, Any]]:
        yield {"type": "bogus"}

    with anyio.fail_after(5):
        async with capture.run_job(job) as stream:
            events = await collect(stream)
    assert len(events) == 1 and isinstance(events[0], Error)


# -- back-pressure and coalescing --------------------------------------------------


async def test_a_fast_producer_is_held_back_and_loses_nothing() -> None:
    total = 200_000
    produced_chars = 0

    def job() -> None:
        nonlocal produced_chars
        for i in range(total):
            line = f"line {i}"
            print(line)
            produced_chars += len(line) + 1

    queue_size = 8
    with anyio.fail_after(30):
        async with capture.run_job(job, queue_size=queue_size) as stream:
            first = await stream.__anext__()
            while not stream.queue_full():  # a consumer that has stopped reading: the producer blocks
                await anyio.sleep(0.01)
            # The producer is blocked: it got ahead of what the consumer took by at
            # most a full queue of batches plus the batch it is filling.
            assert isinstance(first, Progress)
            ahead = produced_chars - len(first.text)
            assert 0 < ahead <= (queue_size + 1) * MAX_BATCH + 100
            assert produced_chars < total * 6, "the producer is waiting, not done"
            rest = await collect(stream)
    text = progress_text([first, *rest])
    assert text == "".join(f"line {i}\n" for i in range(total))
    progress_events = [e for e in [first, *rest] if isinstance(e, Progress)]
    assert len(progress_events) < total / 100, "a consumer that is behind gets batched events"
    assert max(len(e.text) for e in progress_events) <= 64 * 1024 + MAX_BATCH


# -- console echo ---------------------------------------------------------------------


async def test_echo_prefixes_each_line_with_the_job_name(capfd: pytest.CaptureFixture[str]) -> None:
    def job() -> None:
        print("one\ntwo")

    with anyio.fail_after(5):
        async with capture.run_job(job, name="req-7", echo=True) as stream:
            await collect(stream)
    out = capfd.readouterr().out
    assert "[req-7] one\n[req-7] two\n" in out
