"""The thread-local stdout proxy on its own."""

from __future__ import annotations

import io
import sys
import threading

import anyio
import pytest

import capture
from capture import _proxy
from capture._bridge import Bridge
from capture._proxy import StdoutProxy


def test_install_is_idempotent() -> None:
    target = io.StringIO()
    sys.stdout = target
    first = capture.install()
    second = capture.install()
    assert first is second
    assert isinstance(sys.stdout, StdoutProxy) and sys.stdout.target is target
    assert first.target is target


@pytest.mark.anyio
async def test_an_attached_thread_writes_to_its_job_and_others_pass_through() -> None:
    target = io.StringIO()
    sys.stdout = target
    capture.install()
    bridge = Bridge("proxy-test", queue_size=4, max_event_chars=1000)

    def job_thread() -> None:
        attachment = _proxy.attach(bridge)
        assert _proxy.current_bridge() is bridge
        try:
            print("mine")
        finally:
            attachment.detach()
        assert _proxy.current_attachment() is None
        print("mine no more")

    thread = threading.Thread(target=job_thread)
    thread.start()
    thread.join()
    print("not a job")
    with anyio.fail_after(5):
        first = await bridge.__anext__()
    await bridge.aclose()
    assert first == capture.Progress("mine\n")
    assert target.getvalue() == "mine no more\nnot a job\n"


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
