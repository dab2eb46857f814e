"""Bad requests get OpenAI error bodies with the right status codes, never a traceback."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess

pytestmark = pytest.mark.integration

USER = [{"role": "user", "content": "json"}]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"\xff\xfe", 400, None),
        (b"[1, 2]", 400, None),
        ({"messages": USER}, 400, "model"),
        ({"model": 3, "messages": USER}, 400, "model"),
        ({"model": "gpt-4o", "messages": USER}, 404, "model"),
        ({"model": "course-generator"}, 400, "messages"),
        ({"model": "course-generator", "messages": []}, 400, "messages"),
        ({"model": "course-generator", "messages": "json"}, 400, "messages"),
        ({"model": "course-generator", "messages": ["json"]}, 400, "messages[0]"),
        ({"model": "course-generator", "messages": [{"content": "json"}]}, 400, "messages[0]"),
        ({"model": "course-generator", "messages": [{"role": "user", "content": 42}]}, 400, "messages[0].content"),
        ({"model": "course-generator", "messages": [{"role": "user", "content": [{"text": "x"}]}]}, 400,
         "messages[0].content"),
        ({"model": "course-generator", "messages": [{"role": "system", "content": "json"}]}, 400, "messages"),
        ({"model": "course-generator", "messages": [{"role": "user", "content": "   "}]}, 400, "messages"),
        ({"model": "course-generator", "messages": [{"role": "user", "content": "\u200b\u200d\ufeff"}]}, 400,
         "messages"),  # only invisible characters: empty too
        ({"model": "course-generator", "messages": [{"role": "user", "content": "x" * 5000}]}, 400, "messages"),
        ({"model": "course-generator", "messages": USER, "stream": "yes"}, 400, "stream"),
        ({"model": "course-generator", "messages": USER, "stream_options": []}, 400, "stream_options"),
        ({"model": "ticker", "messages": [{"role": "user", "content": '{"ticks": -1}'}]}, 400, "messages"),
        ({"model": "course-generator", "messages": [{"role": "wizard", "content": "json"}, *USER]}, 400,
         "messages[0].role"),
        ({"model": "course-generator", "messages": USER, "n": 2}, 400, "n"),
        ({"model": "x" * 100_000, "messages": USER}, 404, "model"),
    ],
)
def test_bad_chat_requests(server: ServerProcess, body: Any, status: int, param: str | None) -> None:
    if isinstance(body, bytes):
        response = httpx.post(f"{server.url}/v1/chat/completions", content=body, timeout=10,
                              headers={"Content-Type": "application/json"})
    else:
        response = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=10)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"] and "Traceback" not in response.text
    assert len(response.content) < 2000, "an error body is never bigger than the question's mistake"


def test_subject_errors_name_the_subject_the_way_the_page_asks_it(server: ServerProcess) -> None:
    long = httpx.post(f"{server.url}/v1/jobs", json={"input": "x" * 5000}, timeout=10)
    invisible = httpx.post(f"{server.url}/v1/jobs", json={"input": "\u200b\u200b"}, timeout=10)
    assert long.status_code == 400 and long.json()["error"]["message"] == "The subject is longer than 4000 characters."
    assert invisible.status_code == 400 and invisible.json()["error"]["message"].startswith("The subject is empty")


def test_a_body_over_the_limit_is_413(server: ServerProcess) -> None:
    body = b'{"model": "course-generator", "messages": [' + b" " * (2 << 20) + b"]}"
    response = httpx.post(f"{server.url}/v1/chat/completions", content=body, timeout=10)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_unknown_paths_and_methods_answer_in_the_same_shape(server: ServerProcess) -> None:
    missing = httpx.get(f"{server.url}/v1/nothing-here", timeout=10)
    wrong_method = httpx.get(f"{server.url}/v1/chat/completions", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_healthz(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok", "registry": "memory"}


def test_a_request_id_is_kept_when_safe_and_generated_otherwise(server: ServerProcess) -> None:
    given = httpx.get(f"{server.url}/v1/models", headers={"X-Request-ID": "edge-42.a_b"})
    unsafe = httpx.get(f"{server.url}/v1/models", headers={"X-Request-ID": "two words"})
    none = httpx.get(f"{server.url}/v1/models")
    assert given.headers["x-request-id"] == "edge-42.a_b"
    assert unsafe.headers["x-request-id"].startswith("req_") and none.headers["x-request-id"].startswith("req_")
    assert unsafe.headers["x-request-id"] != none.headers["x-request-id"]


def test_a_path_cannot_forge_a_line_of_the_access_log(server: ServerProcess) -> None:
    token = secrets.token_hex(4)
    response = httpx.get(f"{server.url}/v1/models/%0Aevent=job%20outcome=forged-{token}%1B[2J", timeout=10)
    assert response.status_code == 404
    deadline = time.monotonic() + 10
    while not (lines := [line for line in server.output() if f"forged-{token}" in line]):
        assert time.monotonic() < deadline, "the request was not logged"
        time.sleep(0.05)
    assert len(lines) == 1 and "path=" in lines[0], lines
    assert "\\nevent=job" in lines[0] and "\\x1b[2J" in lines[0] and "\x1b" not in lines[0]
