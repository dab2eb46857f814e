"""The middleware stack, outermost first: CORS (so preflights need no credentials), the access
log, then API keys. (Outside all of them, and outside Starlette's own error handling, the
connection's tuning: see ``transport.Application``.)"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from .auth import APIKeyMiddleware
from .observability import AccessLogMiddleware
from .runtime import Runtime

__all__ = ("middleware",)


def middleware(rt: Runtime) -> list[Middleware]:
    auth = rt.config.auth
    stack = []
    if auth.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(auth.cors_origins),
                allow_credentials=False,  # keys travel in headers, never in cookies
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After", "Location"],
                max_age=600,
            )
        )
    stack.append(Middleware(AccessLogMiddleware, metrics=rt.metrics))
    if auth.api_keys:  # without keys it would only hold a frame per open stream
        stack.append(Middleware(APIKeyMiddleware, keys=list(auth.api_keys), tokens=rt.tokens))
    return stack
