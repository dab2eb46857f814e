"""A job's bounded, resumable event log, and its readers.

- Every event has a sequence number (1, 2, 3 …). A reader asks for the events
  after a number; if the log no longer holds some of them it first gets a
  ``Gap`` saying which were lost.
- The log is bounded by events and by characters. While readers are attached,
  ``wait_for_room`` holds the writer back while the log is full of events the
  slowest of them has not read yet (the job then waits on its own bounded
  queue): connected readers lose nothing. With nobody attached, the oldest
  events are dropped.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

from ._events import Content, Entry, Event, Gap, Progress

__all__ = ("EventLog",)


def _size(event: Event) -> int:
    if isinstance(event, (Progress, Content)):
        return len(event.text) + 64
    return 256


class EventLog:
    __slots__ = ("_changed", "_chars", "_closed", "_entries", "_head", "_next_seq", "_reader_ids", "_readers",
                 "_room", "max_chars", "max_events")

    def __init__(self, max_events: int, max_chars: int, first_seq: int = 1) -> None:
        self.max_events = max_events
        self.max_chars = max_chars
        self._entries: list[Entry] = []
        self._head = 0  # index in _entries of the oldest kept entry
        self._chars = 0
        self._next_seq = first_seq  # above 1: a job run by a worker after events written for it elsewhere
        self._closed = False
        self._changed: asyncio.Event | None = None  # readers wait on it; made when one first has to
        self._room: asyncio.Event | None = None  # the writer waits on it while the log is full
        self._readers: dict[int, int] = {}  # reader → last seq it has read
        self._reader_ids = itertools.count(1)

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    @property
    def readers(self) -> int:
        return len(self._readers)

    @property
    def first_seq(self) -> int:
        """The sequence number of the oldest entry kept (the next one's when the log is empty)."""
        return self._first_kept()

    def _first_kept(self) -> int:
        return self._entries[self._head].seq if self._head < len(self._entries) else self._next_seq

    def _full(self) -> bool:
        kept = len(self._entries) - self._head
        return kept >= self.max_events or self._chars >= self.max_chars

    def append(self, entry: Entry) -> None:
        """Add the next entry (its ``seq`` must follow the last one's), dropping the oldest if full."""
        if entry.seq != self._next_seq:
            raise ValueError(f"expected event {self._next_seq}, got {entry.seq}")
        while self._full() and self._head < len(self._entries):
            self._chars -= _size(self._entries[self._head].event)
            self._head += 1
        if self._head > 1024 and self._head * 2 > len(self._entries):
            del self._entries[: self._head]
            self._head = 0
        self._entries.append(entry)
        self._chars += _size(entry.event)
        self._next_seq += 1
        self._wake()

    def close(self) -> None:
        """No more entries: readers that have read everything end."""
        self._closed = True
        self._wake()

    async def wait_for_room(self) -> None:
        """Wait while the log is full of events an attached reader has not read yet."""
        while self._full() and self._readers and min(self._readers.values()) < self._first_kept():
            self._room = asyncio.Event()
            try:
                await self._room.wait()
            finally:
                self._room = None

    async def read(self, after: int = 0) -> AsyncIterator[Entry | Gap]:
        """The entries after sequence number ``after``, as they come, until the log is closed."""
        reader = next(self._reader_ids)
        self._readers[reader] = after
        position = after
        try:
            while True:
                first = self._first_kept()
                if position + 1 < first:
                    yield Gap(position + 1, first - 1)
                    position = first - 1
                    self._read(reader, position)
                while position < self.last_seq:
                    entry = self._entries[self._head + position + 1 - self._first_kept()]
                    yield entry
                    position = entry.seq
                    self._read(reader, position)
                if self._closed:
                    return
                if self._changed is None:
                    self._changed = asyncio.Event()
                await self._changed.wait()
        finally:
            del self._readers[reader]
            if self._room is not None:
                self._room.set()

    def _read(self, reader: int, seq: int) -> None:
        self._readers[reader] = seq
        if self._room is not None:
            self._room.set()  # the writer is waiting for room in the log

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
