"""Bad requests get OpenAI error bodies with the right status codes, never a traceback (in-process)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette

from tests.helpers import chat, in_process

pytestmark = pytest.mark.anyio

MakeApp = Callable[..., Starlette]

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
async def test_bad_chat_requests(make_app: MakeApp, body: Any, status: int, param: str | None) -> None:
    async with in_process(make_app()) as http:
        if isinstance(body, bytes):
            response = await http.post("/v1/chat/completions", content=body,
                                       headers={"Content-Type": "application/json"})
        else:
            response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"] and "Traceback" not in response.text
    assert len(response.content) < 2000, "an error body is never bigger than the question's mistake"


async def test_subject_errors_name_the_subject_the_way_the_page_asks_it(make_app: MakeApp) -> None:
    async with in_process(make_app()) as http:
        long = await http.post("/v1/jobs", json={"input": "x" * 5000})
        invisible = await http.post("/v1/jobs", json={"input": "\u200b\u200b"})
    assert long.status_code == 400 and long.json()["error"]["message"] == "The subject is longer than 4000 characters."
    assert invisible.status_code == 400 and invisible.json()["error"]["message"].startswith("The subject is empty")


async def test_a_body_over_the_limit_is_413(make_app: MakeApp) -> None:
    body = b'{"model": "course-generator", "messages": [' + b" " * (2 << 20) + b"]}"
    async with in_process(make_app()) as http:
        response = await http.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_unknown_paths_and_methods_answer_in_the_same_shape(make_app: MakeApp) -> None:
    async with in_process(make_app()) as http:
        missing = await http.get("/v1/nothing-here")
        wrong_method = await http.get("/v1/chat/completions")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_healthz(make_app: MakeApp) -> None:
    async with in_process(make_app()) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok", "registry": "memory"}


async def test_a_request_id_is_kept_when_safe_and_generated_otherwise(make_app: MakeApp) -> None:
    async with in_process(make_app()) as http:
        given = await http.get("/v1/models", headers={"X-Request-ID": "edge-42.a_b"})
        unsafe = await http.get("/v1/models", headers={"X-Request-ID": "two words"})
        none = await http.get("/v1/models")
    assert given.headers["x-request-id"] == "edge-42.a_b"
    assert unsafe.headers["x-request-id"].startswith("req_") and none.headers["x-request-id"].startswith("req_")
    assert unsafe.headers["x-request-id"] != none.headers["x-request-id"]


async def test_a_path_cannot_forge_a_line_of_the_access_log(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    async with in_process(make_app()) as http:
        response = await http.get("/v1/models/%0Aevent=job%20outcome=forged%1B[2J")
    assert response.status_code == 404
    lines = [record.getMessage() for record in caplog.records if "forged" in record.getMessage()]
    assert len(lines) == 1 and "path=" in lines[0] and "\n" not in lines[0], lines
    assert "\\nevent=job" in lines[0] and "\\x1b[2J" in lines[0] and "\x1b" not in lines[0]


async def test_too_many_messages_is_a_400(make_app: MakeApp) -> None:
    messages = [{"role": "user", "content": "json"}] * 5
    async with in_process(make_app(max_messages=4)) as http:
        response = await http.post("/v1/chat/completions", json={"model": "course-generator", "messages": messages})
    assert response.status_code == 400 and response.json()["error"]["message"] == "Too many messages: at most 4."


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_declared_json_is_a_415(make_app: MakeApp, content_type: str | None) -> None:
    """A web page may send these cross-site without asking the server first."""
    body = json.dumps(chat("no-such-model", '{"ticks": 1}')).encode()
    headers = {"content-type": content_type} if content_type else {}
    async with in_process(make_app()) as http:
        for path in ("/v1/chat/completions", "/v1/jobs"):
            response = await http.post(path, content=body, headers=headers)
            assert response.status_code == 415, response.text
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["code"] == "unsupported_media_type"
        # Read as JSON with the type, whatever its case and parameters: the model is looked up.
        accepted = await http.post("/v1/chat/completions", content=body,
                                   headers={"content-type": "Application/JSON; charset=utf-8"})
    assert accepted.status_code == 404 and accepted.json()["error"]["code"] == "model_not_found"
