"""The thread-local stdout proxy on its own."""

from __future__ import annotations

import io
import sys
import threading

import capture
from capture._proxy import StdoutProxy, set_sink


class _Sink:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> int:
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        self.flushes += 1


def test_install_is_idempotent() -> None:
    target = io.StringIO()
    sys.stdout = target
    first = capture.install()
    second = capture.install()
    assert first is second
    assert isinstance(sys.stdout, StdoutProxy) and sys.stdout.target is target
    assert first.target is target


def test_other_threads_pass_through_unchanged() -> None:
    target = io.StringIO()
    sys.stdout = target
    capture.install()
    sink = _Sink()

    def job_thread() -> None:
        set_sink(sink)
        try:
            print("mine")
        finally:
            set_sink(None)

    thread = threading.Thread(target=job_thread)
    thread.start()
    thread.join()
    print("not a job")
    assert "".join(sink.text) == "mine\n"
    assert target.getvalue() == "not a job\n"


def test_reinstall_wraps_a_replaced_stdout() -> None:
    sys.stdout = io.StringIO()
    capture.install()
    replacement = io.StringIO()
    sys.stdout = replacement  # e.g. a test runner's capture
    proxy = capture.install()
    assert proxy.target is replacement
    print("hello")
    assert replacement.getvalue() == "hello\n"


def test_proxy_forwards_stream_attributes() -> None:
    target = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    sys.stdout = target
    proxy = capture.install()
    assert proxy.encoding == "utf-8"
    assert proxy.isatty() is False
    assert proxy.writable()
