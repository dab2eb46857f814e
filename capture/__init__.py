"""Turn a blocking, printing job into an async stream of events.

For the jobs themselves: ``sleep`` (a cancellable wait), ``check_cancelled``,
``on_cancel`` (for blocking I/O), ``JobCancelled``, ``run_process`` (a command whose
output is the job's), and ``bind`` / ``Thread`` (work in threads the job did not
start that still belongs to it).

For the server: ``install`` (the thread-local stdout and stderr proxies and the
hooks that route threads, pool work and log records), ``run_job`` (one job
read as an async iterator of events), the events (``ProgressUpdate``: a new state
of a progress bar's line), and the job registry (jobs
that outlive a connection, with resumable logs) behind the ``JobRegistry``
protocol, configured by one ``Limits`` value: in this process's memory
(``MemoryJobRegistry``) or shared by several processes through Redis Streams
(``RedisJobRegistry``).
"""

from ._async import iterate_async, run_async
from ._bridge import JobStream, run_job
from ._context import JobCancelled, Thread, bind, check_cancelled, on_cancel, sleep
from ._events import Complete, Content, Entry, Error, Event, Gap, JobInfo, Progress, Terminal
from ._hooks import install
from ._limits import Limits
from ._redis import RedisJobRegistry
from ._registry import JobRegistry, MemoryJobRegistry, Overloaded, StoreUnavailable, UnknownJob
from ._subprocess import run_process
from ._text import ProgressUpdate

__all__ = (
    "Complete",
    "Content",
    "Entry",
    "Error",
    "Event",
    "Gap",
    "JobCancelled",
    "JobInfo",
    "JobRegistry",
    "JobStream",
    "Limits",
    "MemoryJobRegistry",
    "Overloaded",
    "Progress",
    "ProgressUpdate",
    "RedisJobRegistry",
    "StoreUnavailable",
    "Terminal",
    "Thread",
    "UnknownJob",
    "bind",
    "check_cancelled",
    "install",
    "iterate_async",
    "on_cancel",
    "run_async",
    "run_job",
    "run_process",
    "sleep",
)
