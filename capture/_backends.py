"""Which registry serves: jobs in this process's memory, or shared by every process through Redis.

The one place that chooses, so that the HTTP layer speaks only the ``JobRegistry``
protocol and never names a backend.
"""

from __future__ import annotations

from collections.abc import Callable

from ._events import JobInfo
from ._limits import Limits
from ._redis import RedisJobRegistry
from ._redis_remote import RemoteJobRegistry
from ._registry import JobRegistry, MemoryJobRegistry

__all__ = ("open_registry",)


def open_registry(
    url: str | None,
    limits: Limits,
    *,
    echo: bool = False,
    on_finish: Callable[[JobInfo], None] | None = None,
    remote_workers: bool = False,
) -> JobRegistry:
    """The registry for ``url``: a ``redis://``, ``rediss://`` or ``unix://`` address shares jobs
    through Redis; none keeps them in this process.

    Nothing is reached yet: ``await registry.open()`` does that, when the server starts
    (and raises ``StoreUnavailable`` if the store does not answer).  ``echo`` copies what
    jobs print to the server console; ``on_finish`` sees each job's last snapshot.
    ``remote_workers`` (with ``url``): run no job here, enqueue them for worker processes.
    """
    if url and remote_workers:
        return RemoteJobRegistry(url, limits)
    if remote_workers:
        raise ValueError("remote workers need a Redis URL")
    if url:
        return RedisJobRegistry(url, limits, echo=echo, on_finish=on_finish)
    return MemoryJobRegistry(limits, echo=echo, on_finish=on_finish)
