"""Errors answered before any streaming, in OpenAI's error format, and the app's handlers for them.

Every error a client can get has the same JSON shape
(``{"error": {"message", "type", "param", "code"}}``), Starlette's own 404/405
included; an unexpected exception is logged with its traceback and answered
with a generic 500 that says nothing of the server's insides.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .framing import JSONText

__all__ = ("APIError", "exception_handlers", "job_not_found", "overloaded", "shutting_down", "store_unavailable")

logger = logging.getLogger("service")

RETRY_AFTER_S = 5  # what 429 and 503 answers tell clients to wait


class APIError(Exception):
    """An error answered before any streaming, as an OpenAI error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONText:
        return JSONText(self.body(), status_code=self.status, headers=self.headers)


def _unavailable(message: str, code: str) -> APIError:
    """503 with ``Retry-After``: the server cannot take a job now, and will again soon."""
    return APIError(503, message, type="server_error", code=code, headers={"Retry-After": str(RETRY_AFTER_S)})


def shutting_down(message: str = "The server is shutting down; try again in a moment.") -> APIError:
    return _unavailable(message, "server_shutting_down")


def store_unavailable() -> APIError:
    return _unavailable("The job store is unavailable; try again in a moment.", "store_unavailable")


def overloaded(running: int, waiting: int) -> APIError:
    return APIError(
        429,
        f"The server is busy: {running} {'job' if running == 1 else 'jobs'} running and {waiting} waiting "
        "for a worker. "
        "Try again in a few seconds.",
        type="rate_limit_exceeded",
        code="server_overloaded",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def job_not_found(job_id: str) -> APIError:
    return APIError(
        404, f"No job '{job_id}' (unknown, or finished long ago).", param="job_id", code="job_not_found"
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 and friends, in the same JSON shape as every other error."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return APIError(exc.status_code, str(exc.detail), code=code, headers=exc.headers).response()


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return APIError(500, "The server had an error while processing your request.", type="server_error").response()


def exception_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    return {APIError: _api_error, HTTPException: _http_error, Exception: _unexpected_error}
