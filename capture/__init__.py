"""Turn a blocking, printing job into an async stream of events.

For the jobs themselves: ``sleep`` (a cancellable wait), ``check_cancelled``,
``on_cancel`` (for blocking I/O), ``JobCancelled``, and ``bind`` / ``Thread``
(work in other threads that still belongs to the job).

For the server: ``install`` (the thread-local stdout proxy), ``run_job`` (one job
read as an async iterator of events), the events, and the job registry (jobs
that outlive a connection, with resumable logs) behind the ``JobRegistry``
protocol, configured by one ``Limits`` value: in this process's memory
(``MemoryJobRegistry``) or shared by several processes through Redis Streams
(``RedisJobRegistry``).
"""

from ._bridge import JobStream, run_job
from ._context import JobCancelled, Thread, bind, check_cancelled, on_cancel, sleep
from ._events import Complete, Content, Entry, Error, Event, Gap, JobInfo, Progress, Terminal
from ._limits import Limits
from ._proxy import install
from ._redis import RedisJobRegistry
from ._registry import JobRegistry, MemoryJobRegistry, Overloaded, StoreUnavailable, UnknownJob

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
    "RedisJobRegistry",
    "StoreUnavailable",
    "Terminal",
    "Thread",
    "UnknownJob",
    "bind",
    "check_cancelled",
    "install",
    "on_cancel",
    "run_job",
    "sleep",
)
