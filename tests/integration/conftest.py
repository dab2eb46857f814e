"""Fixtures of the integration tests: a redis-server of their own, and two service processes sharing it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisProcess
from tests.server import ServerProcess
from tests.shared_redis import env


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    with RedisProcess() as running:
        yield running


@pytest.fixture
def pair(default_kb: Path, redis_server: RedisProcess) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two service processes sharing ``redis_server``."""
    with ServerProcess(env(default_kb, redis_server)) as a, ServerProcess(env(default_kb, redis_server)) as b:
        yield a, b
