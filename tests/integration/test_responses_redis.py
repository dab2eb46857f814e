"""The Responses face on two real uvicorn processes sharing a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.helpers import ticker
from tests.integration.test_responses import cancel_after_a_tick, client, ticks_in
from tests.redis_server import RedisProcess
from tests.server import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
def pair(default_kb: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {"KNOWLEDGE_BASE": str(default_kb), "HEARTBEAT_INTERVAL": "0.5"}
    with RedisProcess() as redis:
        env["REDIS_URL"] = redis.url
        with ServerProcess(env) as a, ServerProcess(env) as b:
            yield a, b


async def test_a_background_response_resumes_on_the_other_process_exactly_once(
    pair: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = pair
    ticks = 40
    with anyio.fail_after(60):
        async with client(a) as on_a, client(b) as on_b:
            started = await on_a.responses.create(
                model="ticker", input=ticker(ticks, 0.05), background=True
            )
            first: list[Any] = []
            stream = await on_a.responses.retrieve(started.id, stream=True)
            async for event in stream:
                first.append(event)
                if len(first) == 10:
                    break
            await stream.close()
            rest: list[Any] = []
            resumed = await on_b.responses.retrieve(started.id, stream=True, starting_after=first[-1].sequence_number)
            async for event in resumed:
                rest.append(event)
            # The whole stream read again on b numbers every event as a did.
            replayed = [event async for event in await on_b.responses.retrieve(started.id, stream=True)]
            finished = await on_b.responses.retrieve(started.id)
    events = first + rest
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert ticks_in(events) == list(range(ticks))
    assert events[-1].type == "response.completed"
    assert [(e.sequence_number, e.type) for e in replayed] == [(e.sequence_number, e.type) for e in events]
    assert finished.status == "completed" and finished.output_text == events[-1].response.output_text


async def test_cancel_on_the_other_process_ends_it_within_a_second(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    with anyio.fail_after(30):
        async with client(a) as on_a, client(b) as on_b:
            cancelled, events = await cancel_after_a_tick(on_a, on_b)
    assert cancelled.status == "cancelled"
    assert events[-1].type == "response.incomplete" and events[-1].response.status == "cancelled"
