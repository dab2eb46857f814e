"""The ``ticker`` diagnostic job: one timestamped line per tick.

Operators use it to check a proxy chain for buffering (each line carries the
time it was printed); benchmarks use it to measure print-to-client latency and
to check that every stream receives exactly its own lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import capture

__all__ = ("TickerSpec", "parse_ticker_input", "ticker")

MAX_TICKS = 1_000_000
MAX_INTERVAL = 3600.0
MAX_TOKEN = 128


@dataclass(frozen=True, slots=True)
class TickerSpec:
    ticks: int = 10
    interval: float = 0.1
    token: str = "-"


_DEFAULT = TickerSpec()


def parse_ticker_input(text: str) -> TickerSpec:
    """Read ``{"ticks": int, "interval": seconds, "token": str}``; raise ValueError on bad input."""
    text = text.strip()
    if not text:
        return TickerSpec()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"ticker input must be JSON like {{\"ticks\": 5, \"interval\": 0.1}}: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ValueError("ticker input must be a JSON object")
    unknown = set(raw) - {"ticks", "interval", "token"}
    if unknown:
        raise ValueError(f"unknown ticker field(s): {', '.join(sorted(unknown))}")
    ticks = raw.get("ticks", _DEFAULT.ticks)
    interval = raw.get("interval", _DEFAULT.interval)
    token = raw.get("token", _DEFAULT.token)
    if isinstance(ticks, bool) or not isinstance(ticks, int) or not 0 <= ticks <= MAX_TICKS:
        raise ValueError(f"'ticks' must be an integer from 0 to {MAX_TICKS}")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval <= MAX_INTERVAL:
        raise ValueError(f"'interval' must be a number of seconds from 0 to {MAX_INTERVAL:g}")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN or any(c.isspace() for c in token):
        raise ValueError(f"'token' must be a non-empty string of at most {MAX_TOKEN} characters without spaces")
    return TickerSpec(ticks, float(interval), token)


def ticker(spec: TickerSpec | str) -> Iterator[dict[str, Any]]:
    """Print ``tick <i> <time.time_ns()> <token>`` for i in 0..ticks-1, every ``interval`` seconds."""
    if isinstance(spec, str):
        spec = parse_ticker_input(spec)
    start = time.monotonic()
    for i in range(spec.ticks):
        if i:
            # Sleep to a fixed schedule, so the job's length does not drift with load.
            capture.sleep(max(0.0, start + i * spec.interval - time.monotonic()))
        print(f"tick {i} {time.time_ns()} {spec.token}")
    ticks = f"{spec.ticks} tick" + ("" if spec.ticks == 1 else "s")
    answer = f"ticker done: {ticks} every {spec.interval:g} s, token {spec.token}"
    yield {"type": "content", "content": answer}
    yield {"type": "complete", "results": {"ticks": spec.ticks, "interval": spec.interval, "token": spec.token}}
