"""Turn a blocking, printing job into an async stream of events.

Public surface: ``run_job`` (the bridge), the event types, ``JobCancelled``, the job
registry (jobs that outlive a connection, with resumable event logs), and
the helpers a job may call: ``sleep`` (a cancellable wait), ``check_cancelled``,
``bind`` and ``Thread`` (work in other threads that still belongs to the job).
"""

from ._bridge import JobStream, run_job, short_error_message
from ._events import Complete, Content, Error, Event, Progress
from ._job import JobCancelled, Thread, bind, check_cancelled, current_job, on_cancel, sleep
from ._proxy import StdoutProxy, install
from ._registry import Entry, Gap, Job, JobRegistry, MemoryJobRegistry, Overloaded, RegistryLimits

__all__ = (
    "Complete",
    "Content",
    "Entry",
    "Error",
    "Event",
    "Gap",
    "Job",
    "JobCancelled",
    "JobRegistry",
    "JobStream",
    "MemoryJobRegistry",
    "Overloaded",
    "Progress",
    "RegistryLimits",
    "StdoutProxy",
    "Thread",
    "bind",
    "check_cancelled",
    "current_job",
    "install",
    "on_cancel",
    "run_job",
    "short_error_message",
    "sleep",
)
