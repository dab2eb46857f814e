from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import ServerProcess


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
def default_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A knowledge base with the default corpus, indexed once per test run (about 10 s).

    The default corpus is the Python manual that ``make test`` fetches first (``make manual``);
    without it, the documentation that ships with the interpreter.
    """
    from pipeline.knowledge import KnowledgeBase

    path = tmp_path_factory.mktemp("kb") / "knowledge.sqlite3"
    with KnowledgeBase(path) as kb:
        kb.ensure_default_corpus(progress=lambda line: None)
    return path


@pytest.fixture(scope="session")
def server(default_kb: Path) -> Iterator[ServerProcess]:
    """A real server on the default knowledge base, with fast heartbeats and console echo on."""
    env = {"KNOWLEDGE_BASE": str(default_kb), "HEARTBEAT_INTERVAL": "0.2", "ECHO_JOB_OUTPUT": "1"}
    with ServerProcess(env) as running:
        yield running
