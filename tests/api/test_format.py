"""The OpenAI chunk encoding, byte for byte."""

from __future__ import annotations

import json

import pytest

from api.framing import ChunkWriter


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
