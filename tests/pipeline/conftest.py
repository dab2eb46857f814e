"""Fixtures of the pipeline's tests: the knowledge base of the Python manual."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.knowledge import KnowledgeBase


@pytest.fixture(scope="module")
def manual_kb(default_kb: Path) -> Path:
    with KnowledgeBase(default_kb) as kb:
        if kb.corpus() != "manual":
            pytest.skip("the Python manual is not available here (make manual)")
    return default_kb
