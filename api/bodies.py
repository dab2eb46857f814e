"""Request bodies: JSON objects only, within the size limit, refused without resetting the client.

One place reads every body: its type must be JSON (415 otherwise: a "simple" cross-site
request cannot start jobs), its size is checked before it is read whole (413), it must
arrive whole within ``BODY_TIMEOUT`` (408, and the connection closed: a body shorter than
its ``Content-Length`` would otherwise hold the request for ever), a body refused early is
still drained so that the client reads the answer, and lone surrogates become U+FFFD so
that nothing downstream fails to encode.
"""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request

from .app_config import RequestLimits
from .errors import APIError
from .framing import replace_surrogates

__all__ = ("read_json_object",)


# A body refused before it was read whole is still read, up to these bounds, and thrown
# away: a client that writes its whole body before reading (urllib, many HTTP libraries)
# would otherwise see its connection reset instead of the answer.
DISCARD_MAX_BYTES = 16 << 20
DISCARD_MAX_SECONDS = 5.0

# Lone surrogate escapes ("\\ud800" without its pair): json.loads accepts them, UTF-8 cannot hold them.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _is_json(content_type: str | None) -> bool:
    """``application/json``, with or without parameters (``; charset=utf-8``)."""
    if content_type is None:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


async def _discard_body(request: Request, received: int) -> None:
    """Read the rest of a refused body and throw it away, within bounds of size and time."""
    with anyio.move_on_after(DISCARD_MAX_SECONDS):
        while received <= DISCARD_MAX_BYTES:
            message = await request.receive()
            if message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


def _without_surrogates(payload: dict[str, Any]) -> dict[str, Any]:
    """The parsed body, in place, with every lone surrogate in its strings (keys too) made U+FFFD.

    Iterative, because the body may be as deep as json.loads allows.
    """
    def clean(value: Any) -> Any:
        return replace_surrogates(value) if isinstance(value, str) else value

    todo: list[Any] = [payload]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            items = [(clean(key), clean(value)) for key, value in node.items()]
            node.clear()
            node.update(items)
            todo.extend(value for _, value in items if isinstance(value, (dict, list)))
        elif isinstance(node, list):
            node[:] = [clean(value) for value in node]
            todo.extend(value for value in node if isinstance(value, (dict, list)))
    return payload


async def read_json_object(request: Request, limits: RequestLimits) -> dict[str, Any]:
    """The body as a JSON object.

    Refused: a body that is not declared ``application/json`` (415: a web page can send
    any other type to any server without asking it first), one over the size limit (413,
    before it is read whole), one nested too deeply to parse (400). Lone surrogates in
    its strings become U+FFFD here, so nothing past this module sees them.
    """
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    too_large = APIError(413, f"The request body is larger than {limit} bytes.", code="request_too_large")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        await _discard_body(request, 0)
        raise too_large
    content_type = request.headers.get("content-type")
    # No body at all needs no type: it is simply not a JSON object (400, below).
    has_body = declared not in (None, "0") or "transfer-encoding" in request.headers
    if not _is_json(content_type) and (content_type is not None or has_body):
        await _discard_body(request, 0)
        raise APIError(
            415,
            "The request body must be JSON, sent with 'Content-Type: application/json'.",
            param="Content-Type",
            code="unsupported_media_type",
        )
    body = bytearray()
    try:
        with anyio.fail_after(limits.body_timeout or None):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    break
    except ClientDisconnect:
        raise APIError(400, "The client went away while sending the request.") from None
    except TimeoutError:
        # The connection is closed after the answer: what is left of the body never arrives.
        raise APIError(
            408,
            f"The request body did not arrive within {limits.body_timeout:g} seconds.",
            code="request_timeout",
            headers={"Connection": "close"},
        ) from None
    if len(body) > limit:
        await _discard_body(request, len(body))
        raise too_large
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise APIError(400, f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise APIError(400, "The request body is nested too deeply.") from None
    except ValueError:  # an integer past Python's digit limit (4,300 digits) raises a plain ValueError
        raise APIError(400, "A number in the request body has too many digits.") from None
    if not isinstance(payload, dict):
        raise APIError(400, "The request body must be a JSON object.")
    if _SURROGATE_ESCAPE.search(body):
        _without_surrogates(payload)
    return payload
