from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import ServerProcess, default_knowledge_base


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _restore_stdout() -> Iterator[None]:
    """The stdout proxy is process-wide by nature: put ``sys.stdout`` back after each test."""
    saved = sys.stdout
    yield
    sys.stdout = saved


@pytest.fixture(scope="session")
def default_kb() -> Path:
    """A knowledge base with the default corpus, indexed once per test run (about 10 s)."""
    return default_knowledge_base()


@pytest.fixture(scope="session")
def server(default_kb: Path) -> Iterator[ServerProcess]:
    """A real server on the default knowledge base, with fast heartbeats and console echo on."""
    env = {"KNOWLEDGE_BASE": str(default_kb), "HEARTBEAT_INTERVAL": "0.2", "ECHO_JOB_OUTPUT": "1"}
    with ServerProcess(env) as running:
        yield running
