"""Turn a blocking, printing job into an async stream of events.

For the jobs themselves: ``sleep`` (a cancellable wait), ``check_cancelled``,
``on_cancel`` (for blocking I/O), ``JobCancelled``, ``run_process`` (a command whose
output is the job's), ``bind`` / ``Thread`` (work in threads the job did not
start that still belongs to it), and ``run_async`` / ``iterate_async`` (jobs
written as coroutines).

For the server: ``install`` (the thread-local stdout and stderr proxies and the
hooks that route threads, pool work and log records), ``run_job`` (one job in its
thread, its ``Bridge`` read as an async iterator of events), the events
(``ProgressUpdate``: a new state of a progress bar's line), and the job registry
(jobs that outlive a connection, with resumable logs) behind the ``JobRegistry``
protocol, configured by one ``Limits`` value: ``open_registry`` keeps jobs in this
process's memory (``MemoryJobRegistry``) or shares them with other processes
through Redis Streams; with remote workers, web processes enqueue jobs
(``PortableJob``: a model and its input) and ``QueueWorker`` processes run them.

A print's path through the package: ``_proxy`` (which job the thread works for) →
``_lines`` (lines, ``\\r``, ANSI) → ``_bridge`` (batching, the janus queue, the cancel
flag) → ``_job`` (the lifecycle, sequence numbers) → ``_registry`` (where jobs live).
"""

from ._async import iterate_async, run_async
from ._backends import open_registry
from ._bridge import Bridge, JobCancelled, check_cancelled, on_cancel, sleep
from ._events import (
    Complete,
    Content,
    Entry,
    Error,
    Event,
    Gap,
    JobInfo,
    Progress,
    ProgressUpdate,
    Restarted,
    Terminal,
)
from ._hooks import Thread, bind, install
from ._limits import Limits
from ._queue_worker import QueueWorker
from ._redis_queue import JobSpec
from ._redis_remote import PortableJob, RemoteJobRegistry
from ._registry import JobRegistry, MemoryJobRegistry, Overloaded, StoreUnavailable, UnknownJob
from ._subprocess import run_process
from ._worker import run_job

__all__ = (
    "Bridge",
    "Complete",
    "Content",
    "Entry",
    "Error",
    "Event",
    "Gap",
    "JobCancelled",
    "JobInfo",
    "JobRegistry",
    "JobSpec",
    "Limits",
    "MemoryJobRegistry",
    "Overloaded",
    "PortableJob",
    "Progress",
    "ProgressUpdate",
    "QueueWorker",
    "RemoteJobRegistry",
    "Restarted",
    "StoreUnavailable",
    "Terminal",
    "Thread",
    "UnknownJob",
    "bind",
    "check_cancelled",
    "install",
    "iterate_async",
    "on_cancel",
    "open_registry",
    "run_async",
    "run_job",
    "run_process",
    "sleep",
)
