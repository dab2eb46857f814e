"""Text on the wire: JSON that stays one line for every client, event-stream data, OpenAI chunks.

Deliberate choices, not to be "fixed":

- JSON leaves U+0085, U+2028 and U+2029 unescaped, but line-based clients (httpx,
  and so httpx-sse) end a line there: they are escaped, so a chunk stays one line.
- Event-stream text has every kind of line break normalised to "\\n": SSE turns CR
  and CRLF into line breaks and common clients also break at the others, so the
  text reads the same everywhere and no printed character can forge a field.
- A lone surrogate (U+D800 to U+DFFF: JSON's ``"\\ud800"`` escape, or a job that prints
  one) cannot be encoded as UTF-8, and encoding it would end the stream mid-way: every
  one becomes U+FFFD, the replacement character, here where text meets the wire.
- A value JSON cannot represent (a job's result holding a ``datetime``, a set, an
  object) is written as its ``str()``, so a job's last event always goes out.
- Progress and content chunks are most of a stream: they are encoded as a fixed
  prefix and suffix around the JSON of their text (byte for byte what json.dumps
  of the whole chunk gives; a test checks it).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from typing import Any

from sse_starlette import ServerSentEvent
from starlette.responses import JSONResponse

__all__ = (
    "ChunkWriter",
    "JSONText",
    "data_event",
    "encodable",
    "finite",
    "json_text",
    "replace_surrogates",
    "sse_text",
    "stream_error",
)

_JSON_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
# One scan finds both what needs escaping and what cannot be encoded.
_JSON_SPECIAL = re.compile("[\x85\u2028\u2029\ud800-\udfff]")
_TEXT_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
_TOKEN = re.compile(r"\w+|[^\w\s]")


def replace_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so that it encodes as UTF-8."""
    return _SURROGATE.sub(REPLACEMENT, text)


def _as_text(value: object) -> str:
    return str(value)


# Made once: json.dumps with options builds a new encoder on every call, and this runs per event.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_as_text, allow_nan=False)
_encode_string = json.encoder.encode_basestring  # a str as JSON, C-accelerated: the text of most chunks


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity as None: JSON has no such numbers, and a client's
    parser (JavaScript's ``JSON.parse``, Go's, jq) rejects the whole document for one."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def json_text(value: Any) -> str:
    """Compact JSON, safe as one line of event-stream data and encodable as UTF-8; a number
    JSON cannot hold (NaN, infinities) is written as null."""
    if type(value) is str:
        text = _encode_string(value)
    else:
        try:
            text = _ENCODER.encode(value)
        except ValueError as exc:
            if "JSON compliant" not in str(exc):
                raise  # a circular structure: see encodable()
            text = _ENCODER.encode(finite(value))
    # A regex scan finds nothing fast; the fixes run only when there is something to fix.
    if _JSON_SPECIAL.search(text):
        text = replace_surrogates(text).translate(_JSON_LINE_BREAKS)
    return text


def encodable(value: Any) -> Any:
    """``value`` if ``json_text`` can write it, else a short note saying why not
    (a circular or absurdly deep structure, keys that are not text: ``str()`` cannot help there)."""
    try:
        json_text(value)
    except (TypeError, ValueError, RecursionError) as exc:
        return f"<not representable as JSON: {type(exc).__name__}>"
    return value


def sse_text(text: str) -> str:
    """Printed text as event-stream data: every kind of line break becomes "\\n"."""
    return replace_surrogates(_TEXT_LINE_BREAK.sub("\n", text))


class JSONText(JSONResponse):
    """Starlette's ``JSONResponse``, written by ``json_text``: no value a job or a client
    sent (a lone surrogate, an object JSON cannot hold) turns an answer into a 500."""

    def render(self, content: Any) -> bytes:
        return json_text(content).encode()


def data_event(payload: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(data=json_text(payload), sep="\n")


def estimate_tokens(text: str) -> int:
    """Words and punctuation marks: an honest estimate, since no language model tokenised anything."""
    return len(_TOKEN.findall(text))


def stream_error(message: str, code: str) -> dict[str, Any]:
    """A failure after the stream started, as the official SDK expects it (it raises ``APIError``)."""
    return {"error": {"message": message, "type": "server_error", "param": None, "code": code}}


class ChunkWriter:
    """Builds the ``chat.completion.chunk`` objects of one stream (one id, one created)."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{secrets.token_hex(12)}"
        self.created = int(time.time())
        self.model = model
        head = json_text({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": model})
        self._prefix = f'data: {head[:-1]},"choices":[{{"index":0,"delta":{{"'.encode()
        self._suffix = b'},"finish_reason":null}]}\n\n'

    def delta_event(self, field: str, text: str) -> bytes:
        """The SSE bytes of a chunk whose delta is ``{field: text}``."""
        return b"".join((self._prefix, field.encode(), b'":', json_text(text).encode(), self._suffix))

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def usage(self, prompt: str, completion: str) -> dict[str, Any]:
        prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(completion)
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
