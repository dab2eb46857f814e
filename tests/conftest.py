from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _restore_stdout() -> Iterator[None]:
    """The stdout proxy is process-wide by nature: put ``sys.stdout`` back after each test."""
    saved = sys.stdout
    yield
    sys.stdout = saved
