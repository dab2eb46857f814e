"""In-process tests of the app: settings from arguments, never from the environment the tests run in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from service import Settings, create_app


@pytest.fixture(autouse=True)
def _no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's ``API_KEYS`` or ``REDIS_URL`` must not change what these tests see."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def make_app(default_kb: Path) -> Callable[..., Starlette]:
    """``make_app(api_keys="k", ...)``: the service with these settings, on the default knowledge base."""

    def make(**settings: Any) -> Starlette:
        return create_app(Settings(**{"knowledge_base": default_kb, **settings}))

    return make
