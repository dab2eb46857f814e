"""Text on the wire (``api.framing``): the OpenAI chunk encoding byte for byte, and nothing a job
prints can forge an event: arbitrary text, parsed back by real SSE parsers.

The text goes through the real capture path (a job printing it, the stdout proxy,
the janus bridge) and the service's two encodings, then is parsed back with the
parsers real clients use: the official ``openai`` SDK's, and httpx-sse fed by
httpx's own line splitting (which, like ``str.splitlines``, also ends lines at
form feeds, U+2028 and the like), and the spec's own line splitting as browsers do.
"""

from __future__ import annotations

import json
import re

import anyio
import httpx
import pytest
from httpx_sse import EventSource
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openai._streaming import SSEDecoder as OpenAIDecoder
from sse_starlette import ServerSentEvent

import capture
from api.framing import ChunkWriter, sse_text

# Printed text with the characters that matter for framing well represented.
FRAMING = st.sampled_from(
    ["\n", "\r", "\r\n", "\x00", "\ufeff", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029",
     "data: ", "id: 7", "retry: 1", "event: complete", ":", "\n\ndata: [DONE]\n\n", "é", "😀"]
)
PRINTED = st.lists(st.one_of(FRAMING, st.text(max_size=8)), max_size=30).map("".join)


async def printed_events(text: str) -> list[str]:
    async with capture.run_job(print, text, end="", flush=True) as events:
        return [e.text async for e in events if isinstance(e, capture.Progress)]


def stream_of(chunks: list[bytes]) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(chunks))


def spec_events(payload: bytes) -> list[tuple[str, str]]:
    """(event, data) as the SSE spec (and a browser) parses them: lines end at CR, LF or CRLF only."""
    events: list[tuple[str, str]] = []
    data: list[str] = []
    name = "message"
    for line in re.split(r"\r\n|\r|\n", payload.decode("utf-8")):
        if line == "":
            if data:
                events.append((name, "\n".join(data)))
            data, name = [], "message"
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value
    return events


@settings(max_examples=150, deadline=None)
@given(PRINTED)
@example("line one\r\nline two\rthree\n\ndata: forged\nid: 99\nretry: 1\n")
@example("\ufeffstarts with a BOM\x00 and a NUL\u2028and a separator")
def test_printed_text_arrives_whole_in_its_own_events(text: str) -> None:
    pieces = anyio.run(printed_events, text)
    if "\r" in text or "\x1b" in text:
        # Capture reads a carriage return as a line redrawn in place (a progress bar) and removes
        # terminal escapes: it never sends a raw CR or ESC (tests/integration/test_jobs_capture.py checks how).
        # The wire must still carry any text (answers do not go through capture).
        assert "\r" not in "".join(pieces) and "\x1b" not in "".join(pieces)
        pieces = [text]
    else:
        assert "".join(pieces) == text, "capture itself loses nothing"

    # The OpenAI route: JSON carries the text exactly.
    writer = ChunkWriter("ticker")
    chat = [writer.delta_event("reasoning_content", piece) for piece in pieces]
    sdk_events = list(OpenAIDecoder().iter_bytes(iter(chat)))
    assert [e.event for e in sdk_events] == [None] * len(pieces), "one event per piece, none forged"
    assert "".join(e.json()["choices"][0]["delta"]["reasoning_content"] for e in sdk_events) == text
    httpx_events = list(EventSource(stream_of(chat)).iter_sse())
    assert "".join(e.json()["choices"][0]["delta"]["reasoning_content"] for e in httpx_events) == text

    # The EventSource routes: text data, every line break normalised to "\n".
    named = [
        ServerSentEvent(data=sse_text(piece), event="progress", id=f"job_ab:{n}", sep="\n").encode()
        for n, piece in enumerate(pieces, 1)
    ]
    expected = sse_text(text)
    for parsed in (
        [(e.event, e.data) for e in EventSource(stream_of(named)).iter_sse()],
        spec_events(b"".join(named)),
    ):
        assert [name for name, _ in parsed] == ["progress"] * len(pieces), "no forged or lost events"
        assert "".join(data for _, data in parsed) == expected


# -- the OpenAI chunk encoding, byte for byte ------------------------------------------------


@pytest.mark.parametrize(
    "text", ["tick 1 2 abc\n", 'quotes " and \\ and \u2028 and \x85 and é and 😀', "", "a\r\nb\x00"]
)
@pytest.mark.parametrize("field", ["reasoning_content", "content"])
def test_fast_delta_events_equal_the_generic_encoding(field: str, text: str) -> None:
    writer = ChunkWriter("course-generator")
    fast = writer.delta_event(field, text)
    assert fast.startswith(b"data: ") and fast.endswith(b"\n\n") and fast.count(b"\n") == 2
    assert json.loads(fast[len(b"data: ") :]) == writer.chunk({field: text})
    generic = json.dumps(writer.chunk({field: text}), ensure_ascii=False, separators=(",", ":"))
    generic = generic.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")
    assert fast == f"data: {generic}\n\n".encode()
