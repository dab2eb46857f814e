"""Who may call, in-process: API keys in OpenAI's conventions, the CORS allow-list, and a page on
another site refused at the GET route. (Event streams opened with tokens, and everyone else served:
``tests/integration/test_access.py``.)"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from starlette.applications import Starlette

from tests.helpers import in_process, ticker

pytestmark = pytest.mark.anyio

MakeApp = Callable[..., Starlette]


async def test_api_keys_in_openai_conventions(make_app: MakeApp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    app = make_app(api_keys="key-one, key-two")
    async with in_process(app) as http:
        missing = await http.get("/v1/models")
        wrong = await http.get("/v1/models", headers={"Authorization": "Bearer key-three"})
        right = await http.get("/v1/models", headers={"Authorization": "Bearer key-two"})
        open_paths = [(await http.get(path)).status_code for path in ("/healthz", "/", "/metrics")]
        issued = await http.post("/v1/stream-tokens", headers={"Authorization": "Bearer key-one"})
        not_for_the_api = await http.get("/v1/models", params={"access_token": issued.json()["token"]})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "Incorrect API key provided."
    assert right.status_code == 200
    assert open_paths == [200, 200, 200]
    assert not_for_the_api.status_code == 401, "a stream token opens streams only"
    assert caplog.records and not any("key-one" in r.getMessage() or "key-two" in r.getMessage()
                                      for r in caplog.records), "keys are never logged"


async def test_metrics_behind_its_own_token(make_app: MakeApp) -> None:
    app = make_app(metrics_token="metrics-token-0123", api_keys="an-api-key-0123")
    async with in_process(app) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer metrics-token-0124"})
        an_api_key = await http.get("/metrics", headers={"Authorization": "Bearer an-api-key-0123"})
        not_ascii = await http.get("/metrics", headers={b"Authorization": "Bearer métrics-token-0123".encode()})
        right = await http.get("/metrics", headers={"Authorization": "bearer metrics-token-0123"})
        health = await http.get("/healthz")
    for refused in (missing, wrong, an_api_key, not_ascii):
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "invalid_metrics_token"
        assert "metrics-token-0123" not in refused.text
    assert right.status_code == 200 and "course_stream_jobs_running" in right.text
    assert health.status_code == 200, "only /metrics needs the token"


async def test_cors_allow_list(make_app: MakeApp) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    async with in_process(make_app(cors_origins="https://app.example")) as http:
        allowed = await http.options("/v1/chat/completions", headers={"Origin": "https://app.example", **preflight})
        denied = await http.options("/v1/chat/completions", headers={"Origin": "https://evil.example", **preflight})
        simple = await http.get("/healthz", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in allowed.headers
    assert denied.status_code == 400 and "access-control-allow-origin" not in denied.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_a_cross_site_browser_request_starts_no_job(make_app: MakeApp) -> None:
    app = make_app(cors_origins="https://app.example")
    params = {"model": "ticker", "subject": ticker(1, 0)}
    async with in_process(app) as http:
        for headers in ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},  # EventSource
                        {"Sec-Fetch-Site": "cross-site"}):  # an image tag: no Origin at all
            refused = await http.get("/v1/courses/stream", params=params, headers=headers)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_site_request"
        metrics = (await http.get("/metrics")).text
    registry = app.state.runtime.registry
    assert (registry.running(), registry.waiting()) == (0, 0)
    assert "course_stream_job_duration_seconds_count{" not in metrics, "no job started, none ended"
