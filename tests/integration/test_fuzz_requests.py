"""Fuzzing the request parsers of a real server: no 500, no traceback, always a clear error body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server import ServerProcess

pytestmark = pytest.mark.integration

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
MODELS = st.sampled_from(["course-generator", "ticker", "", "gpt-4o", None, 3])
CONTENT = st.one_of(
    st.text(max_size=50),
    st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", 1]), "text": JSON})),
    JSON,
)
MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", 5]), "content": CONTENT}),
    JSON,
)
CHAT = st.fixed_dictionaries(
    {},
    optional={
        "model": MODELS,
        "messages": st.one_of(st.lists(MESSAGE, max_size=4), JSON),
        "stream": st.one_of(st.booleans(), JSON),
        "stream_options": st.one_of(st.fixed_dictionaries({"include_usage": JSON}), JSON),
    },
)
ALLOWED = {200, 201, 204, 400, 401, 404, 405, 413, 429}


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def check(client: httpx.Client, method: str, url: str, **kwargs: Any) -> None:
    with client.stream(method, url, **kwargs) as response:
        if response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream"):
            return  # a valid request: its stream starts; leaving closes it and cancels the job
        body = response.read().decode("utf-8", "replace")
    if response.status_code == 201:  # a valid job: do not leave it running
        client.delete(f"/v1/jobs/{json.loads(body)['id']}")
    assert response.status_code in ALLOWED, body
    assert "Traceback" not in body and 'File "' not in body
    if response.status_code >= 400:
        error = json.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]


fuzz = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz
@given(body=st.one_of(CHAT, JSON))
def test_chat_completions_parser(http: httpx.Client, body: Any) -> None:
    check(http, "POST", "/v1/chat/completions", json=body)


@fuzz
@given(body=st.binary(max_size=200))
def test_chat_completions_with_arbitrary_bytes(http: httpx.Client, body: bytes) -> None:
    check(http, "POST", "/v1/chat/completions", content=body, headers={"content-type": "application/json"})


@fuzz
@given(body=st.one_of(st.fixed_dictionaries({}, optional={"model": MODELS, "input": JSON}), JSON))
def test_jobs_parser(http: httpx.Client, body: Any) -> None:
    check(http, "POST", "/v1/jobs", json=body)


@fuzz
@given(
    params=st.dictionaries(
        st.sampled_from(["subject", "model", "last_event_id", "access_token", "x"]), st.text(max_size=60), max_size=4
    ),
    last_event_id=st.one_of(st.none(), st.text(max_size=40)),
)
def test_course_stream_query(http: httpx.Client, params: dict[str, str], last_event_id: str | None) -> None:
    headers = {}
    # What an HTTP client can send as a header value at all (httpx refuses surrounding whitespace).
    sendable = last_event_id is not None and last_event_id.isascii() and last_event_id.isprintable()
    if sendable and last_event_id and last_event_id.strip() == last_event_id:
        headers["Last-Event-ID"] = last_event_id
    check(http, "GET", "/v1/courses/stream", params=params, headers=headers)
