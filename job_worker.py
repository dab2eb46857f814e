"""``python -m job_worker`` (``make worker``): a process that only runs jobs, taken from the Redis queue.

Web processes started with ``JOB_WORKERS=remote`` enqueue jobs and serve their
streams; this process runs ``WORKER_THREADS`` of them at once and writes their events
to Redis, where any web process reads them. It reads the same settings as the web
process (``REDIS_URL`` is required; ``MAX_CONCURRENT_JOBS`` bounds the jobs running on
all workers together; ``JOB_TIMEOUT``, ``KNOWLEDGE_BASE``, ``LLM_*``, ``JOBS`` build and
bound the jobs as on a web process), so one environment file serves both.

SIGTERM (or Ctrl-C) drains: no new job is taken, the running ones finish (for up to
``WORKER_DRAIN_TIMEOUT`` seconds, then they are stopped), and the process exits 0.
A second signal stops the running jobs at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

import uvloop

import capture
import service
from api.catalogue import build_models, load_jobs
from api.observability import logfmt
from pipeline import open_default

logger = logging.getLogger("service.worker")


def _job_finished(info: capture.JobInfo) -> None:
    logger.log(logging.WARNING if info.status == "failed" else logging.INFO, logfmt(
        event="job", job=info.id, model=info.model, outcome=info.status, reason=info.reason,
        duration_ms=info.elapsed * 1000, events=info.last_seq, request_id=info.tags.get("request_id")))


async def serve(worker: capture.QueueWorker) -> None:
    loop = asyncio.get_running_loop()
    signals = 0

    def stop() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            worker.drain()
        else:
            logger.warning("second stop signal: stopping the running jobs now")
            worker.registry.cancel_all("shutdown")

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop)
    await worker.run()
    logger.info("worker %s: drained, exiting", worker.owner)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("service", "capture", "pipeline"):
        logging.getLogger(name).setLevel(logging.INFO)
    settings = service.load_settings()  # checked as a web process checks them (a bad one: one line, exit 2)
    if not settings.redis_url:
        print("course-stream worker: REDIS_URL must be set: the job queue lives in Redis", file=sys.stderr)
        return 2
    capture.install(stderr=settings.capture_stderr, server_loggers=("pipeline",))
    config = settings.config()
    models = build_models(config.knowledge_base, config.llm)
    models.update(load_jobs(settings.jobs, taken=models))

    def build(spec: capture.JobSpec) -> Callable[[], Any]:
        model = models.get(spec.model)
        if model is None:
            raise LookupError(f"no model {spec.model!r} here (is JOBS the same as on the web processes?)")
        return model.prepare(spec.text)

    # Indexed before taking jobs, as a web process does before taking requests.
    try:
        open_default(config.knowledge_base, progress=lambda line: logger.info("%s", line)).close()
    except Exception:
        logger.exception("the knowledge base could not be prepared; courses will fail until it is fixed")
    worker = capture.QueueWorker(
        settings.redis_url, config.job_limits, threads=settings.worker_threads, build=build,
        drain_timeout=settings.worker_drain_timeout, echo=config.echo_job_output, on_finish=_job_finished,
    )
    try:
        # uvloop, as uvicorn picks for the web processes: this loop wakes for every line every job
        # prints and copies it to Redis, and asyncio's own loop spent about twice its CPU on that.
        uvloop.run(serve(worker))
    except capture.StoreUnavailable as exc:
        print(f"course-stream worker: Redis does not answer ({exc})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
