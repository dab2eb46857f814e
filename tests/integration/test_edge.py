"""Hostile input at the edge, reproduced against real servers (memory and Redis registries).

Each test is a request a careless or hostile client sent, and what it got before: a stream
that waited for ever, a 500, a document a strict JSON parser rejects, another key's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.redis_server import RedisProcess
from tests.server import ROOT, ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ALICE, BOB = "alice-edge-key", "bob-edge-key"
SECRET = "edge-tests-signing-secret-0123456789abcdef"  # several processes share it with Redis
JOBS = "shout=tests.jobs_capture:shout,nan=tests.jobs_capture:not_a_number,wait=tests.jobs_capture:slow_bar"


def _env(default_kb: Path, **extra: str) -> dict[str, str]:
    return {"KNOWLEDGE_BASE": str(default_kb), "JOBS": JOBS, "PYTHONPATH": str(ROOT),
            "ECHO_JOB_OUTPUT": "0", "API_KEYS": f"{ALICE},{BOB}", **extra}


@pytest.fixture(scope="module", params=["memory", "redis"])
def server(request: pytest.FixtureRequest, default_kb: Path) -> Iterator[ServerProcess]:
    if request.param == "memory":
        with ServerProcess(_env(default_kb)) as running:
            yield running
        return
    with RedisProcess() as redis:
        env = _env(default_kb, REDIS_URL=redis.url, STREAM_TOKEN_SECRET=SECRET)
        with ServerProcess(env) as running:
            yield running


def client(server: ServerProcess, key: str = ALICE) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {key}"})


async def finished_job(http: httpx.AsyncClient, model: str = "shout", text: str = "edge") -> dict[str, object]:
    """A job started with POST /v1/jobs, once it has finished."""
    created = await http.post("/v1/jobs", json={"model": model, "input": text})
    assert created.status_code in (200, 201, 202), created.text
    job_id = created.json()["id"]
    with anyio.fail_after(30):
        while True:
            info = (await http.get(f"/v1/jobs/{job_id}")).json()
            if info["status"] not in ("queued", "running"):
                return dict(info)
            await anyio.sleep(0.05)


async def test_a_content_id_before_any_content_is_refused(server: ServerProcess) -> None:
    async with client(server) as http:
        job = await finished_job(http)
        response = await http.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": f"{job['id']}:0.md"})
    assert response.status_code == 400
    assert "Last-Event-ID" in response.json()["error"]["message"]


async def test_an_id_past_the_jobs_last_event_is_refused_not_waited_on(server: ServerProcess) -> None:
    async with client(server) as http:
        created = (await http.post("/v1/jobs", json={"model": "wait", "input": "3"})).json()
        with anyio.fail_after(10):  # before: a stream that never ended
            response = await http.get(f"/v1/jobs/{created['id']}/events",
                                      headers={"Last-Event-ID": f"{created['id']}:999999"})
        await http.delete(f"/v1/jobs/{created['id']}")
    assert response.status_code == 400
    assert "past this job's last event" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/jobs/{id}:events", "/v1/jobs/{id}:control", "/v1/jobs/job_zz"])
async def test_an_id_of_the_wrong_shape_is_not_found(server: ServerProcess, path: str) -> None:
    async with client(server) as http:
        job = await finished_job(http)
        response = await http.get(path.format(id=job["id"]))
    assert response.status_code == 404, "in Redis, '<id>:events' names the job's own stream key"
    assert response.json()["error"]["code"] == "not_found" or "No job" in response.json()["error"]["message"]


async def test_an_integer_past_pythons_digit_limit_is_a_clear_400(server: ServerProcess) -> None:
    body = '{"model": "shout", "input": "x", "max_tokens": ' + "9" * 5000 + "}"
    async with client(server) as http:
        response = await http.post("/v1/chat/completions", content=body,
                                   headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "too many digits" in response.json()["error"]["message"]


async def test_a_stream_token_that_is_not_ascii_is_a_401(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.get("/v1/courses/stream", params={"subject": "lists", "access_token": "v1.é.x.y.z"})
    assert response.status_code == 401


async def test_a_nan_in_a_jobs_answer_reaches_clients_as_strict_json(server: ServerProcess) -> None:
    def strict(text: str) -> object:
        def refuse(constant: str) -> object:
            raise AssertionError(f"{constant} is not JSON")
        return json.loads(text, parse_constant=refuse)

    async with client(server) as http:
        job = await finished_job(http, "nan")
        status = await http.get(f"/v1/jobs/{job['id']}")
        assert status.status_code == 200
        described = strict(status.text)
        async with aconnect_sse(http, "GET", f"/v1/jobs/{job['id']}/events") as source:
            complete = [event.data async for event in source.aiter_sse() if event.event == "complete"]
        async with aconnect_sse(http, "POST", "/v1/chat/completions",
                                json={"model": "nan", "stream": True,
                                      "messages": [{"role": "user", "content": "again"}]}) as source:
            chunks = [event.data async for event in source.aiter_sse() if event.data != "[DONE]"]
    assert isinstance(described, dict) and described["status"] == "complete"
    # Every document parses with a strict parser, as JavaScript's JSON.parse does.
    results = strict(complete[0])
    assert isinstance(results, dict) and strict(results["markdown"]) == {"token": "edge", "ratio": None, "limit": None}
    answer = "".join(strict(chunk)["choices"][0]["delta"].get("content") or "" for chunk in chunks)  # type: ignore[index]
    assert strict(answer) == {"token": "again", "ratio": None, "limit": None}


async def test_another_keys_job_is_not_found_on_any_route(server: ServerProcess) -> None:
    async with client(server) as alice, client(server, BOB) as bob:
        created = (await alice.post("/v1/jobs", json={"model": "wait", "input": "5"})).json()
        job_id = created["id"]
        seen = {
            "status": (await bob.get(f"/v1/jobs/{job_id}")).status_code,
            "events": (await bob.get(f"/v1/jobs/{job_id}/events")).status_code,
            "resume": (await bob.get("/v1/courses/stream", headers={"Last-Event-ID": f"{job_id}:1"})).status_code,
            "cancel": (await bob.delete(f"/v1/jobs/{job_id}")).status_code,
            "response": (await bob.get(f"/v1/responses/resp_{job_id.removeprefix('job_')}")).status_code,
        }
        token = (await bob.post("/v1/stream-tokens")).json()["token"]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as anonymous:
            with_token = await anonymous.get(f"/v1/jobs/{job_id}/events", params={"access_token": token})
        still = (await alice.get(f"/v1/jobs/{job_id}")).json()
        await alice.delete(f"/v1/jobs/{job_id}")
    assert seen == {"status": 404, "events": 404, "resume": 204, "cancel": 404, "response": 404}
    assert with_token.status_code == 404, "a stream token opens its own key's jobs only"
    assert still["status"] in ("queued", "running"), "the other key's DELETE did not stop it"


async def test_a_stream_token_opens_its_own_keys_job(server: ServerProcess) -> None:
    async with client(server) as alice:
        job = await finished_job(alice)
        token = (await alice.post("/v1/stream-tokens")).json()["token"]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as browser:
        with anyio.fail_after(30):
            async with aconnect_sse(browser, "GET", f"/v1/jobs/{job['id']}/events",
                                    params={"access_token": token}) as source:
                names = [event.event async for event in source.aiter_sse()]
    assert "complete" in names

