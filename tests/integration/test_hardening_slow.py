"""A client that stops reading is cut about ``SEND_TIMEOUT`` after its buffers fill, and
the buffers are small: not minutes of a job's output later, its job thread held meanwhile."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.test_hardening_jobs import start_server

pytestmark = pytest.mark.integration

SEND_TIMEOUT = 1.0
LINE_BYTES = 1000
PAUSE = 0.004  # at most 250 KB/s: the default kernel buffers (megabytes) take many seconds to fill


def test_a_client_that_stops_reading_is_cut_soon_at_a_steady_pace(default_kb: Path) -> None:
    env = {"KNOWLEDGE_BASE": str(default_kb), "SEND_TIMEOUT": str(SEND_TIMEOUT), "HEARTBEAT_INTERVAL": "5"}
    with start_server(env) as server:
        body = json.dumps({"model": "paced", "stream": True, "messages": [
            {"role": "user", "content": json.dumps({"lines": 100_000, "pause": PAUSE})}]}).encode()
        stalled = socket.create_connection(("127.0.0.1", server.port))
        try:
            # A client that sends its request, reads nothing, and keeps its socket open.
            stalled.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            began = time.monotonic()
            deadline = began + 60
            while not any("event=slow_client" in line for line in server.output()):
                assert time.monotonic() < deadline, "the stalled stream was never cut"
                time.sleep(0.05)
            took = time.monotonic() - began
            # The server dropped the connection: the client sees it end.
            stalled.settimeout(30)
            try:
                while stalled.recv(1 << 16):
                    pass
            except ConnectionResetError:
                pass
        finally:
            stalled.close()
        # Anything logged about that connection is logged before this request's own line.
        marker = f"/v1/models/after-{int(began)}"
        httpx.get(f"{server.url}{marker}", timeout=10)
        deadline = time.monotonic() + 10
        while not any(marker in line for line in server.output()):
            assert time.monotonic() < deadline, "the request after was not logged"
            time.sleep(0.05)
        assert not any("ASGI callable" in line for line in server.output()), "a cut stream is one slow_client line"
    # The bound: the few hundred KiB of bounded buffers at the job's pace, then SEND_TIMEOUT,
    # with room for a busy machine; unbounded buffers took over 20 s here.
    assert took < 12, f"cut {took:.1f} s after the client stopped reading"
