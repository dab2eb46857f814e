from __future__ import annotations

import re
import time

import pytest

from pipeline.ticker import TickerSpec, parse_ticker_input, ticker


def test_prints_one_timestamped_line_per_tick(capsys: pytest.CaptureFixture[str]) -> None:
    before = time.time_ns()
    events = list(ticker('{"ticks": 3, "interval": 0.01, "token": "abc"}'))
    after = time.time_ns()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["0", "1", "2"]
    for line in lines:
        match = re.fullmatch(r"tick (\d+) (\d+) abc", line)
        assert match and before <= int(match.group(2)) <= after
    assert events[0]["type"] == "content" and "\n" not in events[0]["content"]
    assert events[-1] == {"type": "complete", "results": {"ticks": 3, "interval": 0.01, "token": "abc"}}


def test_empty_input_uses_defaults() -> None:
    assert parse_ticker_input("") == TickerSpec()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"ticks": -1}',
        '{"ticks": 1.5}',
        '{"ticks": true}',
        '{"interval": "fast"}',
        '{"interval": -0.1}',
        '{"token": "two words"}',
        '{"token": ""}',
        '{"tick": 3}',
    ],
)
def test_bad_input_is_refused_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_ticker_input(text)
    assert str(info.value)
