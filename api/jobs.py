"""Jobs as resources: ``POST /v1/jobs``, ``GET`` and ``DELETE /v1/jobs/{id}``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import capture

from .auth import owns
from .errors import job_not_found
from .framing import JSONText, encodable
from .parsing import JOB_ID, parse_job
from .runtime import runtime

__all__ = ("create_job", "delete_job", "find_job", "get_job")


def describe(job: capture.JobInfo, *, full: bool = True) -> dict[str, Any]:
    """A job as a resource. ``full`` adds its answer and result (the answer once: a result's
    ``markdown`` is the same text as ``content``)."""
    info: dict[str, Any] = {
        "id": job.id,
        "object": "job",
        "model": job.model,
        "status": job.status,
        "reason": job.reason,
        "created": job.created,
        "finished": job.finished,
        "events": job.last_seq,
        "events_url": f"/v1/jobs/{job.id}/events",
    }
    if isinstance(job.terminal, capture.Error):
        info["error"] = {"message": job.terminal.message, "kind": job.terminal.kind}
    if full:
        results = job.terminal.results if isinstance(job.terminal, capture.Complete) else {}
        info["content"] = job.answer or str(results.get("markdown") or "")
        if isinstance(job.terminal, capture.Complete):
            info["result"] = {key: encodable(value) for key, value in results.items() if key != "markdown"}
    return info


async def find_job(request: Request, job_id: str) -> capture.JobInfo | None:
    """The job ``job_id`` as ``request`` may see it: None for an id of the wrong shape, an
    unknown job, or another API key's job (every route that reads a job by id asks here)."""
    if JOB_ID.fullmatch(job_id) is None:
        return None  # never reaches the registry (in Redis, "<id>:events" is another key's name)
    info = await runtime(request).registry.status(job_id)
    if info is None or not owns(request, info):
        return None
    return info


async def create_job(request: Request) -> Response:
    rt = runtime(request)
    job = await parse_job(request, rt.config, rt.models)
    info = await rt.start_job(request, job.model, job.job, resumable=True)
    return JSONText(describe(info), status_code=201, headers={"Location": f"/v1/jobs/{info.id}"})


async def get_job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    info = await find_job(request, job_id)
    if info is None:
        raise job_not_found(job_id)
    return JSONText(describe(info))


async def delete_job(request: Request) -> Response:
    """Stop a job; answers its state, without its answer. A finished job is left as it was
    (and answered the same way), so ``DELETE`` can be repeated safely."""
    job_id = request.path_params["job_id"]
    info = await find_job(request, job_id)
    if info is not None:
        info = await runtime(request).registry.cancel(job_id)
    if info is None:
        raise job_not_found(job_id)
    return JSONText(describe(info, full=False))
