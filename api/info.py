"""The small routes: the page, health, metrics, models, the knowledge base, stream tokens."""

from __future__ import annotations

import hmac
import logging
import sqlite3
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from pipeline import KnowledgeBase

from .auth import request_key
from .catalogue import CREATED, Model, find_model
from .errors import APIError
from .runtime import runtime

__all__ = ("WEB", "healthz", "knowledge_base", "list_models", "metrics", "page", "retrieve_model", "stream_token")

logger = logging.getLogger("service")

WEB = Path(__file__).resolve().parent.parent / "web"


async def page(request: Request) -> Response:
    """``GET /``: the thinking-box page."""
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


async def healthz(request: Request) -> Response:
    """Liveness, and the job registry's state: 503 while the shared store is unreachable."""
    rt = runtime(request)
    registry = rt.registry.health()
    if rt.shutting_down:
        return JSONResponse({"status": "shutting down", **registry})
    if "unavailable" in registry.values():
        return JSONResponse({"status": "degraded", **registry}, status_code=503)
    return JSONResponse({"status": "ok", **registry})


async def metrics(request: Request) -> Response:
    """Prometheus metrics; with ``METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``."""
    rt = runtime(request)
    token = rt.config.auth.metrics_token
    if token:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        credential = credential.strip()
        # Header values arrive as latin-1 text: a token is printable ASCII, anything else is not it.
        if scheme.lower() != "bearer" or not credential.isascii() or not hmac.compare_digest(
            credential.encode("ascii"), token
        ):
            raise APIError(
                401,
                "/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'.",
                code="invalid_metrics_token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    body, content_type = rt.metrics.render()
    return Response(body, media_type=content_type)


def _model_object(model: Model) -> dict[str, Any]:
    """A model as OpenAI's API describes one, with what it does."""
    return {
        "id": model.id,
        "object": "model",
        "created": CREATED,
        "owned_by": "course-stream",
        "description": model.description,
        "backend": model.backend,
    }


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: every model (job) this server runs."""
    return JSONResponse({"object": "list", "data": [_model_object(m) for m in runtime(request).models.values()]})


async def retrieve_model(request: Request) -> Response:
    """``GET /v1/models/{model}`` (the openai SDK's ``models.retrieve``): one model, or 404 ``model_not_found``."""
    return JSONResponse(_model_object(find_model(runtime(request).models, request.path_params["model"], "model")))


async def knowledge_base(request: Request) -> Response:
    """What the course generator knows, for people (the file's path stays private)."""
    path = runtime(request).config.knowledge_base

    def describe() -> dict[str, Any]:
        with KnowledgeBase(path) as kb:
            return {"description": kb.describe(), "documents": kb.counts()}

    try:
        return JSONResponse(await anyio.to_thread.run_sync(describe))
    except sqlite3.Error as exc:
        logger.error("knowledge base unavailable: %s", exc)
        raise APIError(503, "The knowledge base is unavailable.", type="server_error") from None


async def stream_token(request: Request) -> Response:
    """``POST /v1/stream-tokens``: a short-lived token for opening event streams where no
    header can be sent (EventSource)."""
    tokens = runtime(request).tokens
    token, expires = tokens.issue(request_key(request))  # good for this key's jobs only
    return JSONResponse(
        {"token": token, "expires_at": expires, "expires_in": int(tokens.ttl)},
        headers={"Cache-Control": "no-store"},
    )
