"""Served without a proxy, requests that never finish end: slowloris headers (408), a connection that
sends nothing, headers without end (431, memory bounded), a body shorter than its Content-Length (408);
and a long stream is not cut by the header timeout. Raw sockets against a real uvicorn, served as
``make run`` serves (``--http api.http_guard:GuardedHttpToolsProtocol``)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import chat, ticker
from tests.server import ServerProcess

pytestmark = pytest.mark.integration

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
KEEP_ALIVE = 5.0  # uvicorn's --timeout-keep-alive, left at its default
MARGIN = 5.0  # a busy 2-core machine: what an answer may take beyond its timeout
PARTIAL_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a"  # a header line, never ended


@pytest.fixture(scope="module")
def guarded(default_kb: Path) -> Iterator[ServerProcess]:
    env = {
        "KNOWLEDGE_BASE": str(default_kb),
        "HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "BODY_TIMEOUT": str(BODY_TIMEOUT),
        "MAX_HEADER_BYTES": "65536",
    }
    with ServerProcess(env) as running:
        yield running


def connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes the connection (True), or until ``deadline`` (False)."""
    received = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return received, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return received, False
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, True
        received += chunk


def rss_bytes(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert match is not None
    return int(match.group(1)) * 1024


def test_slowloris_connections_get_408_and_are_closed_within_the_header_timeout(guarded: ServerProcess) -> None:
    started = time.monotonic()
    sockets = [connect(guarded) for _ in range(50)]
    try:
        for sock in sockets:
            sock.sendall(PARTIAL_HEADERS)
        deadline = started + HEADER_TIMEOUT + MARGIN
        results = [read_until_closed(sock, deadline) for sock in sockets]
        elapsed = time.monotonic() - started
    finally:
        for sock in sockets:
            sock.close()
    assert all(closed for _, closed in results), f"{sum(not c for _, c in results)} of 50 still open"
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer, _ in results), {a[:40] for a, _ in results}
    assert all(b"connection: close" in answer.lower() for answer, _ in results)
    assert elapsed >= HEADER_TIMEOUT - 0.1, "closed before the header timeout"
    assert httpx.get(f"{guarded.url}/healthz", timeout=10).status_code == 200, "the server serves on"


def test_a_connection_that_sends_nothing_is_closed(guarded: ServerProcess) -> None:
    with connect(guarded) as sock:
        answer, closed = read_until_closed(sock, time.monotonic() + HEADER_TIMEOUT + MARGIN)
    assert closed and answer.startswith(b"HTTP/1.1 408 ")


def test_a_keep_alive_connections_next_request_gets_its_own_header_timeout(guarded: ServerProcess) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first or not first.rstrip().endswith(b"}"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(PARTIAL_HEADERS)  # within uvicorn's keep-alive time (5 s): the next request begins
        answer, closed = read_until_closed(sock, time.monotonic() + HEADER_TIMEOUT + MARGIN)
    assert closed and answer.startswith(b"HTTP/1.1 408 ")


def test_headers_without_end_get_431_and_memory_stays_bounded(guarded: ServerProcess) -> None:
    pid = guarded.process.pid
    before = rss_bytes(pid)
    answers: list[bytes] = [b""] * 4
    closed = [False] * 4
    sent = [0] * 4

    def send(index: int, sock: socket.socket) -> None:
        filler = b"a" * (1 << 16)
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
            while sent[index] < 20 << 20:
                sock.sendall(filler)
                sent[index] += len(filler)
        except OSError:  # the server closed the connection: it stopped reading
            pass

    def read(index: int, sock: socket.socket) -> None:
        try:
            answers[index], closed[index] = read_until_closed(sock, time.monotonic() + 60)
        except OSError:  # shut down below, the test having given up on it
            pass

    sockets = [connect(guarded) for _ in range(4)]
    threads = [threading.Thread(target=work, args=(i, sock), daemon=True)
               for i, sock in enumerate(sockets) for work in (send, read)]
    peak = before
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while any(thread.is_alive() for thread in threads) and time.monotonic() < deadline:
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.02)
    finally:
        for sock in sockets:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a thread still sending or reading
        for thread in threads:
            thread.join(timeout=10)
        for sock in sockets:
            sock.close()
    assert peak - before < 40 << 20, f"RSS grew by {(peak - before) >> 20} MiB"
    assert all(answer.startswith(b"HTTP/1.1 431 ") for answer in answers), [a[:40] for a in answers]
    assert all(closed), "each connection is closed after its answer"
    assert httpx.get(f"{guarded.url}/healthz", timeout=10).status_code == 200


def test_the_rest_of_an_answered_requests_body_cannot_trickle_for_ever(guarded: ServerProcess) -> None:
    """A body nobody reads, one byte at a time: the connection ends within the keep-alive time of the answer."""
    received, closed, answered = b"", False, 0.0
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\nx")
        deadline = time.monotonic() + KEEP_ALIVE + MARGIN + 5
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"x")
                sock.settimeout(0.2)
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # reset: the server closed while this client was still sending
                closed = True
                break
            closed = not chunk
            received += chunk
            if not answered and b"\r\n\r\n" in received:
                answered = time.monotonic()
        ended = time.monotonic()
    assert received.startswith(b"HTTP/1.1 200 ") and answered
    assert closed, "the connection is still open"
    assert KEEP_ALIVE - 0.5 <= ended - answered <= KEEP_ALIVE + MARGIN


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
def test_a_body_shorter_than_its_content_length_gets_408(guarded: ServerProcess, path: str) -> None:
    body = json.dumps(chat("ticker", ticker(1, 0))).encode()
    started = time.monotonic()
    with connect(guarded) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) + 100}\r\n\r\n".encode() + body
        )
        answer, closed = read_until_closed(sock, started + BODY_TIMEOUT + MARGIN)
    head, _, content = answer.partition(b"\r\n\r\n")
    assert closed and head.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"connection: close" in head.lower()
    if path.startswith("/v1/"):  # OpenAI's error format; the AI SDK's route answers in plain text
        assert json.loads(content)["error"]["code"] == "request_timeout"
    else:
        assert b"did not arrive within 2 seconds" in content
    assert time.monotonic() - started >= BODY_TIMEOUT - 0.1


def test_a_stream_longer_than_the_header_timeout_is_not_cut(guarded: ServerProcess) -> None:
    started = time.monotonic()
    with httpx.Client(base_url=guarded.url, timeout=20) as client:
        with client.stream("POST", "/v1/chat/completions", json=chat("ticker", ticker(8, 0.5))) as response:
            assert response.status_code == 200
            text = "".join(response.iter_text())
        lasted = time.monotonic() - started
        again = client.get("/healthz")  # the same connection, kept alive: its next request is served
    assert lasted >= 3 > HEADER_TIMEOUT
    assert text.count("tick ") == 8 and text.rstrip().endswith("data: [DONE]")
    assert again.status_code == 200
