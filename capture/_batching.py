"""How printed text becomes progress events: every batching rule, in one place.

Producer side (a job's threads): the first line printed after the reader took
the previous batch opens a new batch and is put on the queue at once, which
wakes the reader, so no delay is added.  Lines printed before the reader gets
to it join that batch, so a job that prints fast costs one queue operation per
batch, not per line.  Any other event seals the open batch first (order is kept).

Consumer side (the reader): taking a batch closes it to new lines; batches
already waiting behind it in the queue are merged into the same event when the
reader is behind, up to the event size limit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import janus

from ._events import Event, Progress

__all__ = ("MAX_BATCH", "Batcher", "ProgressBatch", "pieces")

# Printed text is batched at the source up to this size (or the event limit, when smaller):
# big enough to spare queue operations, small enough that a batch is sent without delay.
MAX_BATCH = 16 * 1024

class ProgressBatch:
    """Printed text waiting for the reader, as one queue item."""

    __slots__ = ("parts", "size", "taken")

    def __init__(self, text: str) -> None:
        self.parts = [text]
        self.size = len(text)
        self.taken = False


def pieces(text: str, limit: int) -> Iterator[str]:
    """``text`` in pieces of at most ``limit`` characters: one huge print becomes several events."""
    if len(text) <= limit:
        yield text
        return
    for start in range(0, len(text), limit):
        yield text[start : start + limit]


class Batcher:
    """The batching state of one job, shared by its threads (producers) and its reader."""

    __slots__ = ("_lock", "_open", "batch_limit", "event_limit")

    def __init__(self, max_event_chars: int) -> None:
        self._lock = threading.Lock()
        self._open: ProgressBatch | None = None
        self.event_limit = max_event_chars
        self.batch_limit = min(MAX_BATCH, max_event_chars)

    def add(self, text: str) -> ProgressBatch | None:
        """Add printed text (at most ``event_limit`` long); return a new batch to put on the
        queue, or None when the text joined the batch already there."""
        with self._lock:
            batch = self._open
            if batch is not None and not batch.taken and batch.size + len(text) <= self.batch_limit:
                batch.parts.append(text)
                batch.size += len(text)
                return None
            batch = self._open = ProgressBatch(text)
            return batch

    def seal(self) -> None:
        """Another kind of event follows: what was printed before it stays before it."""
        with self._lock:
            self._open = None

    def take(self, batch: ProgressBatch) -> str:
        """Close ``batch`` to new lines and return its text."""
        with self._lock:
            batch.taken = True
            parts = batch.parts
        return parts[0] if len(parts) == 1 else "".join(parts)

    def coalesce(
        self, first: ProgressBatch, waiting: janus.AsyncQueue[Event | ProgressBatch]
    ) -> tuple[Progress, Event | ProgressBatch | None]:
        """The text of ``first`` and of the batches already waiting behind it, up to the event limit.

        Returns the event and what was taken from the queue but does not belong in it
        (another kind of event, or text that would make the event too big), if anything.
        """
        text = self.take(first)
        if waiting.empty():
            return Progress(text), None
        parts = [text]
        size = len(text)
        held: Event | ProgressBatch | None = None
        while not waiting.empty():
            try:
                item = waiting.get_nowait()
            except (asyncio.QueueEmpty, janus.AsyncQueueShutDown):
                break
            if not isinstance(item, ProgressBatch):
                held = item
                break
            more = self.take(item)
            if size + len(more) > self.event_limit:
                held = Progress(more)  # next time: merged here it would make this event too big
                break
            parts.append(more)
            size += len(more)
        return Progress("".join(parts) if len(parts) > 1 else text), held
