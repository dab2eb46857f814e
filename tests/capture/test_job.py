"""The bridge's cancel flag on its own."""

from __future__ import annotations

import threading
import time

from capture._bridge import CancelFlag


def test_cancel_flag_wakes_every_waiter() -> None:
    flag = CancelFlag()
    woke: list[bool] = []
    waiters = [threading.Thread(target=lambda: woke.append(flag.wait(10))) for _ in range(5)]
    for thread in waiters:
        thread.start()
    flag.set()
    for thread in waiters:
        thread.join(5)
    assert woke == [True] * 5
    assert flag.is_set() and flag.wait(0)


def test_cancel_flag_wait_times_out_when_not_set() -> None:
    flag = CancelFlag()
    started = time.monotonic()
    assert flag.wait(0.05) is False
    assert time.monotonic() - started >= 0.04
    assert flag.wait(-1) is False  # a negative wait is no wait, not an error


def test_setting_twice_is_harmless() -> None:
    flag = CancelFlag()
    flag.set()
    flag.set()
    assert flag.wait(0)
