"""Admission control: at most N jobs run at once; up to M more wait their turn, in order.

A place is reserved when a request arrives (synchronously, so that a full
waiting line can still be answered with 429 before any stream starts); a job
that has to wait learns its position each time it changes, so its client can
see it; a finished, failed or cancelled job frees its place for the next.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

__all__ = ("Admission", "Overloaded", "Ticket")


class Overloaded(Exception):
    """No place to run and no place to wait."""

    def __init__(self, running: int, waiting: int) -> None:
        super().__init__(f"{running} jobs running and {waiting} waiting")
        self.running = running
        self.waiting = waiting


class Ticket:
    __slots__ = ("admitted", "released")

    def __init__(self, admitted: bool) -> None:
        self.admitted = admitted
        self.released = False


class Admission:
    def __init__(self, max_running: int, max_waiting: int) -> None:
        if max_running < 1 or max_waiting < 0:
            raise ValueError("max_running must be at least 1 and max_waiting at least 0")
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.running = 0
        self.stuck = 0  # of those running, jobs that ended but whose thread has not returned
        self.closed = False  # no more admissions: the server is stopping
        self._waiting: deque[Ticket] = deque()
        self._changed = asyncio.Event()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        """Admit nobody any more (the server is stopping): waiting jobs stay where they are
        until they are released, so a place freed now does not start one."""
        self.closed = True

    def reserve(self) -> Ticket:
        """A place to run now, or to wait; raises ``Overloaded`` when there is neither."""
        if self.closed:
            raise Overloaded(self.running, len(self._waiting))
        if self.running < self.max_running and not self._waiting:
            self.running += 1
            return Ticket(admitted=True)
        if len(self._waiting) >= self.max_waiting:
            raise Overloaded(self.running, len(self._waiting))
        ticket = Ticket(admitted=False)
        self._waiting.append(ticket)
        return ticket

    async def wait(self, ticket: Ticket) -> AsyncIterator[int]:
        """Until ``ticket`` may run (or is released), yield how many are ahead of it, each time that changes."""
        last = -1
        while not ticket.admitted and not ticket.released:
            ahead = self._waiting.index(ticket)
            if ahead != last:
                last = ahead
                yield ahead
            changed = self._changed
            await changed.wait()

    def release(self, ticket: Ticket) -> None:
        """The ticket's job ended (or gave up waiting): its place goes to the next in line."""
        if ticket.released:
            return
        ticket.released = True
        if ticket.admitted:
            self.running -= 1
        else:
            try:
                self._waiting.remove(ticket)
            except ValueError:
                pass
        while self.running < self.max_running and self._waiting and not self.closed:
            self._waiting.popleft().admitted = True
            self.running += 1
        self._changed.set()
        self._changed = asyncio.Event()
