"""What a client sends or a job prints never cuts a stream, causes a 500 or escapes a limit:
lone surrogates, deep JSON, a body refused while it is still being written, HTTP/1.0."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from httpx_sse import connect_sse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import chat, post_json
from tests.misbehaving_jobs import start_server
from tests.server import ServerProcess

pytestmark = pytest.mark.integration

REPLACEMENT = "\ufffd"
SURROGATES = re.compile("[\ud800-\udfff]")


def replaced(text: str) -> str:
    """``text`` as it should arrive once sent as JSON: a high and a low surrogate in a row are
    one escaped pair, which JSON reads as one character; every other one is U+FFFD."""
    return SURROGATES.sub(REPLACEMENT, json.loads(json.dumps(text)))


@pytest.fixture(scope="module")
def wire(default_kb: Path) -> Iterator[ServerProcess]:
    env = {"KNOWLEDGE_BASE": str(default_kb), "HEARTBEAT_INTERVAL": "5", "MAX_BODY_BYTES": "65536"}
    with start_server(env) as running:
        yield running


def read_chat_stream(server: ServerProcess, body: dict[str, Any]) -> tuple[str, list[str]]:
    """The reasoning text of a chat stream, and its data lines; asserts it ended cleanly."""
    data: list[str] = []
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", content=json.dumps(body).encode(),
                      headers={"content-type": "application/json"}, timeout=20) as response:
        assert response.status_code == 200, response.read()
        raw = b"".join(response.iter_bytes())
    text = raw.decode("utf-8")  # strict: the stream is valid UTF-8
    data = [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]
    assert data[-1] == "[DONE]", data[-3:]
    chunks = [json.loads(item) for item in data[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"])
    return reasoning, data


# -- lone surrogates --------------------------------------------------------------------------


def test_a_lone_surrogate_in_a_ticker_token_arrives_as_the_replacement_character(wire: ServerProcess) -> None:
    """The issue's reproduction, read by the official SDK."""
    client = openai.OpenAI(base_url=f"{wire.url}/v1", api_key="-", max_retries=0)
    with client:
        stream = client.chat.completions.create(
            model="ticker", stream=True,
            messages=[{"role": "user", "content": '{"ticks": 3, "token": "a\\ud800b"}'}],
        )
        reasoning, finish = [], None
        for chunk in stream:
            if chunk.choices:
                reasoning.append((chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or "")
                finish = chunk.choices[0].finish_reason or finish
    lines = "".join(reasoning).splitlines()
    assert finish == "stop"
    assert len([line for line in lines if line.startswith("tick ")]) == 3
    assert all(line.endswith(" a\ufffdb") for line in lines if line.startswith("tick "))


def test_a_lone_surrogate_from_a_client_or_a_job_never_causes_a_500(wire: ServerProcess) -> None:
    url = wire.url
    # An unknown model's name, echoed in the error.
    missing = post_json(f"{url}/v1/chat/completions", chat("no\ud800such", "x"))
    assert missing.status_code == 404 and "no\ufffdsuch" in missing.json()["error"]["message"]
    # stream: false, with a job that prints one.
    answer = post_json(f"{url}/v1/chat/completions", chat("echo-json", json.dumps("x\udc00y"), stream=False))
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["reasoning_content"] == "x\ufffdy\n"
    # The browser face, then the job as a resource, then a resume of it.
    created = post_json(f"{url}/v1/jobs", {"model": "echo-json", "input": json.dumps("p\ud83dq")})
    job_id = created.json()["id"]
    with httpx.Client(timeout=10) as http, connect_sse(http, "GET", f"{url}/v1/jobs/{job_id}/events") as source:
        events = [(sse.event, sse.data) for sse in source.iter_sse()]
    assert ("progress", "p\ufffdq\n") in events and events[-1][0] == "complete"
    described = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10)
    assert described.status_code == 200
    with httpx.Client(timeout=10) as http, connect_sse(
        http, "GET", f"{url}/v1/jobs/{job_id}/events", headers={"Last-Event-ID": f"{job_id}:0"}
    ) as source:
        again = [(sse.event, sse.data) for sse in source.iter_sse()]
    assert again == events


# Hypothesis leaves surrogates out of text, even when asked in one_of (it merges character
# strategies and filters them out again): lists of characters keep them, and frequent.
surrogates = st.characters(categories=["Cs"]).map(str)
any_text = st.lists(st.one_of(surrogates, st.characters()), min_size=1, max_size=40).map("".join)
any_token = st.lists(
    st.one_of(surrogates, st.characters(exclude_categories=["Cc", "Zs", "Zl", "Zp"])), min_size=1, max_size=12
).map("".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=any_text, token=any_token)
def test_any_text_arrives_with_lone_surrogates_replaced(wire: ServerProcess, text: str, token: str) -> None:
    """Any code point, surrogates included, as a chat message, a ticker token and a job's print:
    every stream ends cleanly, and reads exactly as the same text with U+FFFD in their place."""
    # As a chat message (a JSON escape in the body) that the job prints.
    got, _ = read_chat_stream(wire, chat("echo", text))
    expected, _ = read_chat_stream(wire, chat("echo", replaced(text)))
    assert got == expected and not SURROGATES.search(got)
    # As what a job prints (it makes the surrogates itself).
    got, _ = read_chat_stream(wire, chat("echo-json", json.dumps(text)))
    assert got == expected
    # As a ticker token.
    ticks, _ = read_chat_stream(wire, chat("ticker", json.dumps({"ticks": 2, "interval": 0, "token": token})))
    lines = [line for line in ticks.splitlines() if line.startswith("tick ")]
    assert len(lines) == 2 and all(line.split(" ", 3)[3] == replaced(token) for line in lines), lines


# -- bodies -------------------------------------------------------------------------------------


def test_a_body_nested_too_deeply_is_a_400(wire: ServerProcess) -> None:
    body = b'{"model": "ticker", "messages": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    response = httpx.post(f"{wire.url}/v1/chat/completions", content=body,
                          headers={"content-type": "application/json"}, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["message"]
    assert not any("Traceback" in line or "RecursionError" in line for line in wire.output())


def test_a_client_that_writes_its_whole_body_first_reads_the_413(wire: ServerProcess) -> None:
    body = json.dumps(chat("ticker", "x" * 4_000_000)).encode()  # far over MAX_BODY_BYTES (64 KiB)
    for declared in (True, False):
        request = urllib.request.Request(f"{wire.url}/v1/chat/completions", data=iter([body]) if not declared
                                         else body, headers={"Content-Type": "application/json"})
        if not declared:
            request.add_header("Transfer-Encoding", "chunked")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=20)
        assert refused.value.code == 413
        assert json.loads(refused.value.read())["error"]["code"] == "request_too_large"
        refused.value.close()


# -- HTTP/1.0 -------------------------------------------------------------------------------


def test_an_http10_client_gets_an_http10_stream(wire: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", wire.port), timeout=20) as sock:
        sock.sendall(b"GET /v1/courses/stream?model=ticker&subject=%7B%22ticks%22%3A3%7D HTTP/1.0\r\n"
                     b"Host: localhost\r\n\r\n")
        received = bytearray()
        while chunk := sock.recv(65536):  # the body ends where the connection does
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    headers = [line.split(b":", 1)[0].strip().lower() for line in head.split(b"\r\n")[1:]]
    assert b"transfer-encoding" not in headers
    assert headers.count(b"connection") == 1 and b"connection: close" in head.lower()
    text = body.decode()
    assert text.count("event: progress") >= 1 and "event: complete" in text
    assert text.endswith("\n\n") and "\r\n0\r\n" not in text
