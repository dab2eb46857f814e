"""Helpers of the tests in which service processes share a real redis-server: the service's
settings for it, and jobs created and read over HTTP as a client would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.redis_server import RedisProcess


def env(kb: Path, redis: RedisProcess, **extra: str) -> dict[str, str]:
    return {"KNOWLEDGE_BASE": str(kb), "REDIS_URL": redis.url, "HEARTBEAT_INTERVAL": "0.5",
            "ECHO_JOB_OUTPUT": "1", "SSE_RETRY_MS": "100", **extra}


async def create_job(http: httpx.AsyncClient, base: str, text: str, model: str = "ticker") -> dict[str, Any]:
    response = await http.post(f"{base}/v1/jobs", json={"model": model, "input": text})
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def read(http: httpx.AsyncClient, url: str, last_id: str | None = None,
               limit: int | None = None) -> tuple[list[ServerSentEvent], int]:
    """Named events (heartbeats skipped) until the terminal one, or ``limit`` events; and the status."""
    events: list[ServerSentEvent] = []
    headers = {"Last-Event-ID": last_id} if last_id else {}
    async with aconnect_sse(http, "GET", url, headers=headers) as source:
        status = source.response.status_code
        if status != 200:
            return events, status
        async for event in source.aiter_sse():
            if event.event == "message" and not event.data:
                continue  # a heartbeat comment, dispatched by httpx-sse once an id was seen
            events.append(event)
            if event.event in ("complete", "error") or (limit is not None and len(events) >= limit):
                break
    return events, status


def ticks(events: list[ServerSentEvent]) -> list[int]:
    return [int(line.split()[1]) for e in events if e.event == "progress"
            for line in e.data.splitlines() if line.startswith("tick ")]
