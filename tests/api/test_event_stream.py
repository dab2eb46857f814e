"""The send watchdog: which streams it closes, and that it leaves nothing scheduled behind."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from api.sse import EventStream, SendWatchdog


class FakeStream:
    """What the watchdog reads of a stream: its timeout and when its current send began."""

    def __init__(self, send_timeout: float | None, sending_since: float | None) -> None:
        self.send_timeout = send_timeout
        self.sending_since = sending_since
        self.timed_out = False

    def time_out(self) -> None:
        self.timed_out = True


def _as_stream(fake: FakeStream) -> EventStream:
    return cast(EventStream, cast(Any, fake))


def test_only_a_send_waiting_longer_than_its_timeout_is_cut() -> None:
    async def scenario() -> list[bool]:
        watchdog = SendWatchdog()
        now = time.monotonic()
        streams = [
            FakeStream(2.0, now - 5.0),  # stalled for 5 s with a 2 s timeout: cut
            FakeStream(2.0, now - 0.5),  # sending for half a second: left alone
            FakeStream(2.0, None),  # not sending: left alone
            FakeStream(10.0, now - 5.0),  # a longer timeout: left alone
        ]
        for stream in streams:
            watchdog.watch(_as_stream(stream))
        watchdog._check()
        watchdog.close()
        return [stream.timed_out for stream in streams]

    assert asyncio.run(scenario()) == [True, False, False, False]


def test_the_watchdog_stops_when_no_stream_is_left() -> None:
    async def scenario() -> tuple[bool, bool]:
        watchdog = SendWatchdog()
        stream = _as_stream(FakeStream(0.2, None))
        watchdog.watch(stream)
        armed = watchdog._timer is not None
        watchdog.forget(stream)
        async with asyncio.timeout(5):
            while watchdog._timer is not None:  # the next check finds nothing to watch and does not re-arm
                await asyncio.sleep(0.01)
        return armed, watchdog._timer is None

    assert asyncio.run(scenario()) == (True, True)
