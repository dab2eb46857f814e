"""Optional API keys, and short-lived signed tokens for the streams browsers open.

With ``API_KEYS`` set, every ``/v1/*`` request needs ``Authorization: Bearer <key>``
(answered 401 in OpenAI's error format otherwise), and so does the AI SDK's ``/api/chat``. A browser's ``EventSource``
cannot send that header, and a key must not travel in a URL (URLs end up in
logs, histories and ``Referer`` headers): so a page holding a key asks
``POST /v1/stream-tokens`` for a token that is good for ``STREAM_TOKEN_TTL``
seconds and only for opening event streams, and puts that in the stream's URL.

Keys are compared in constant time (every key, every time, so that timing does
not reveal which one matched) and are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ("APIKeyMiddleware", "StreamTokens")

_PROTECTED = ("/v1/", "/api/")  # the OpenAI-compatible API, and the AI SDK's /api/chat
# Routes a browser opens with EventSource: they accept a stream token instead of a key.
_STREAM_ROUTES = re.compile(r"^/v1/(courses/stream|jobs/[^/]+/events)$")


class StreamTokens:
    """``v1.<expiry>.<nonce>.<signature>``: HMAC-SHA256 of expiry and nonce with the server's secret."""

    def __init__(self, secret: bytes, ttl: float) -> None:
        self._secret = secret
        self.ttl = ttl

    def issue(self) -> tuple[str, int]:
        expires = int(time.time() + self.ttl)
        payload = f"{expires}.{secrets.token_hex(8)}"
        return f"v1.{payload}.{self._sign(payload)}", expires

    def valid(self, token: str) -> bool:
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit():
            return False
        payload = f"{parts[1]}.{parts[2]}"
        return hmac.compare_digest(self._sign(payload), parts[3]) and int(parts[1]) >= time.time()

    def _sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()


def key_matches(candidate: str, keys: Iterable[bytes]) -> bool:
    given = candidate.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key)
    return matched


class APIKeyMiddleware:
    """Requires a key (or, on stream routes, a stream token) on ``/v1/*`` when keys are configured."""

    def __init__(self, app: ASGIApp, keys: list[str], tokens: StreamTokens) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or not scope["path"].startswith(_PROTECTED):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":  # CORS preflight carries no credentials
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization", "")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "bearer" and key_matches(credential.strip(), self.keys):
            await self.app(scope, receive, send)
            return
        if _STREAM_ROUTES.match(scope["path"]) and scope["method"] in ("GET", "HEAD"):
            token = _query_value(scope.get("query_string", b""), "access_token")
            if token and self.tokens.valid(token):
                await self.app(scope, receive, send)
                return
        message = (
            "Incorrect API key provided." if authorization else
            "Missing API key: send 'Authorization: Bearer <key>' (streams opened by a browser take "
            "'?access_token=' from POST /v1/stream-tokens)."
        )
        body = json.dumps(
            {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _query_value(query_string: bytes, name: str) -> str:
    from urllib.parse import parse_qs

    values = parse_qs(query_string.decode("latin-1")).get(name)
    return values[0] if values else ""
