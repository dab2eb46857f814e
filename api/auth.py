"""Optional API keys, and short-lived signed tokens for the streams browsers open.

With ``API_KEYS`` set, every ``/v1/*`` request needs ``Authorization: Bearer <key>``
(answered 401 in OpenAI's error format otherwise), and so does the AI SDK's ``/api/chat``. A browser's ``EventSource``
cannot send that header, and a key must not travel in a URL (URLs end up in
logs, histories and ``Referer`` headers): so a page holding a key asks
``POST /v1/stream-tokens`` for a token that is good for ``STREAM_TOKEN_TTL``
seconds and only for opening event streams, and puts that in the stream's URL.

Keys are compared in constant time (every key, every time, so that timing does
not reveal which one matched) and are never logged.

Jobs belong to the key that started them: a job keeps a fingerprint of its key (a
SHA-256 of it, never the key), and a request made with another key finds no such
job (404 on its status, events, resume, cancel). A stream token names the key it was
issued to, so a stream opened with it sees that key's jobs only.
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
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

import capture

__all__ = ("APIKeyMiddleware", "StreamTokens", "owns", "request_key")

_PROTECTED = ("/v1/", "/api/")  # the OpenAI-compatible API, and the AI SDK's /api/chat
# Routes a browser opens with EventSource: they accept a stream token instead of a key.
_STREAM_ROUTES = re.compile(r"^/v1/(courses/stream|jobs/[^/]+/events)$")


def key_id(key: str) -> str:
    """A key's fingerprint, kept with the jobs it starts: names the key without revealing it."""
    return hashlib.sha256(b"course-stream api key\0" + key.encode()).hexdigest()[:32]


def request_key(request: Request) -> str | None:
    """The fingerprint of the key a request was authenticated with (None without ``API_KEYS``)."""
    value = request.scope.get("state", {}).get("key_id")
    return value if isinstance(value, str) else None


def owns(request: Request, job: capture.JobInfo) -> bool:
    """May ``request`` see ``job``? Only with the key that started it, when keys are configured."""
    return job.tags.get("key") == request_key(request)


class StreamTokens:
    """``v1.<expiry>.<nonce>.<key id>.<signature>``: HMAC-SHA256 of the rest with the server's secret."""

    def __init__(self, secret: bytes, ttl: float) -> None:
        self._secret = secret
        self.ttl = ttl

    def issue(self, key: str | None = None) -> tuple[str, int]:
        """A token for the key with fingerprint ``key`` (``-`` when no keys are configured)."""
        expires = int(time.time() + self.ttl)
        payload = f"{expires}.{secrets.token_hex(8)}.{key or '-'}"
        return f"v1.{payload}.{self._sign(payload)}", expires

    def key_of(self, token: str) -> str | None:
        """The key fingerprint a valid token names, or None for a token that is not valid (now)."""
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != "v1" or not parts[1].isdigit() or not token.isascii():
            return None
        payload = ".".join(parts[1:4])
        if not hmac.compare_digest(self._sign(payload).encode(), parts[4].encode()) or int(parts[1]) < time.time():
            return None
        return parts[3]

    def valid(self, token: str) -> bool:
        return self.key_of(token) is not None

    def _sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()


def matching_key(candidate: str, keys: Iterable[bytes]) -> bytes | None:
    """The key ``candidate`` is, compared with every key (constant time), or None."""
    given = candidate.encode("utf-8", "surrogateescape")
    matched: bytes | None = None
    for key in keys:
        if hmac.compare_digest(given, key):
            matched = key
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
        matched = matching_key(credential.strip(), self.keys) if scheme.lower() == "bearer" else None
        if matched is not None:
            scope.setdefault("state", {})["key_id"] = key_id(matched.decode())
            await self.app(scope, receive, send)
            return
        if _STREAM_ROUTES.match(scope["path"]) and scope["method"] in ("GET", "HEAD"):
            token = _query_value(scope.get("query_string", b""), "access_token")
            owner = self.tokens.key_of(token) if token else None
            if owner is not None:
                scope.setdefault("state", {})["key_id"] = owner
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
