"""Printed text made into lines, as a terminal would show them: the second hop of a print.

Every thread that works for a job has its own pair of ``LineWriter`` (its stdout and
stderr, see ``_proxy.Attachment``): each keeps its own partial line, so two threads
(or stdout and stderr) of one job never splice half-lines together.  A writer hands
complete lines to its job's bridge (``_bridge.py``) at once.

Deliberate choices, not to be "fixed":

- ANSI escape sequences (colours, cursor moves, OSC titles and links) are removed, not
  translated: no client of this service renders them, and raw they are garbage in a
  chat UI.  Removing them costs one ``"\\x1b" in text`` scan per write when there are none.
- A line rewritten with carriage returns (tqdm and friends) is an *updating line*.  Its
  first state is sent as an ordinary line; later states are sent as ``ProgressUpdate``
  events at most every ``UPDATE_INTERVAL`` seconds per line, and its final state (when the
  line ends with a newline, or the thread's work ends) is always sent.  A 10,000-step bar
  therefore costs at most ``2 + duration / UPDATE_INTERVAL`` events instead of 10,000.
- Every update is a whole line ending in a newline: reasoning text on the OpenAI route is
  append-only, so there each state reads as one more line (bounded, as above); a client
  that knows ``ProgressUpdate`` (the EventSource page) replaces the last line instead.
- A partial line waits for the thread's ``flush()``, the job's next yield or the end of
  the thread's work, or until it reaches the event size limit.

``echo`` is the optional copy of what jobs print to the server console, each line
prefixed with its job's name.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._bridge import Bridge

__all__ = ("LineWriter", "echo")

UPDATE_INTERVAL = 0.25  # seconds between two states of one updating line sent to clients

_echo_lock = threading.Lock()

# CSI (colours, cursor moves), OSC (titles, links), the other two-byte and nF sequences, and an
# ESC that starts none of them: none of it is text, and a client would show it as garbage.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~]|)")
# An escape sequence cut off at the end of a write: held until the next write completes it.
_ANSI_TAIL = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[ -/]+)?\Z")


def strip_ansi(text: str) -> tuple[str, str]:
    """``text`` without ANSI escape sequences, and an unfinished sequence at its end (or "")."""
    tail = _ANSI_TAIL.search(text)
    held = ""
    if tail is not None:
        held = tail.group()
        text = text[: tail.start()]
    return _ANSI.sub("", text), held


class LineWriter:
    """One thread's stdout (or stderr) for a job: sends complete lines at once, keeps the partial one.

    Text without carriage returns or escapes takes the fast path: complete lines are
    sent as they are printed.  A carriage return makes the current line an updating
    line: its states are sent rate-limited, its final state always.
    """

    __slots__ = (
        "_cr_pending", "_esc", "_partial", "_partial_len", "_sent_at", "_sent_state", "_slow", "_updating", "bridge"
    )

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self._partial: list[str] = []
        self._partial_len = 0
        self._esc = ""  # an escape sequence cut off at the end of the last write
        self._updating = False  # the current line was rewritten with "\r"
        self._cr_pending = False  # a "\r" was written: the next text replaces the line
        self._sent_state: str | None = None  # the state of the updating line clients have
        self._sent_at = 0.0
        self._slow = False  # an escape or an updating line is pending: every write takes the slow path

    def write(self, text: str) -> int:
        bridge = self.bridge
        bridge.check()
        if "\r" in text or "\x1b" in text or self._slow:
            return self._write_slow(text)
        newline = text.rfind("\n")
        if newline < 0:
            if text:
                self._partial.append(text)
                self._partial_len += len(text)
                if self._partial_len >= bridge.max_event_chars:  # bounded: sent without its newline
                    self.flush()
            return len(text)
        head = text[: newline + 1]
        if self._partial:
            head = "".join(self._partial) + head
            self._partial.clear()
            self._partial_len = 0
        rest = text[newline + 1 :]
        if rest:
            self._partial.append(rest)
            self._partial_len = len(rest)
        bridge.put_text(head)
        return len(text)

    def _write_slow(self, text: str) -> int:
        """Text with escapes or carriage returns, or on a line that had them."""
        written = len(text)
        if self._esc or "\x1b" in text:
            text, self._esc = strip_ansi(self._esc + text)
        if self._updating or "\r" in text:
            self._write_updating(text)
        elif text:
            self._slow = False  # plain text now (a held escape waits in _esc): the fast path takes it
            self.write(text)
        self._slow = bool(self._esc) or self._updating
        return written

    def _write_updating(self, text: str) -> None:
        """Text with carriage returns, or text on a line that had them."""
        lines = text.replace("\r\n", "\n").split("\n")
        for i, segment in enumerate(lines):
            if i:
                self._end_line()
            pieces = segment.split("\r")
            for j, piece in enumerate(pieces):
                if j:  # a carriage return: the line updates, the next text replaces it
                    self._updating = self._cr_pending = True
                if piece:
                    if self._cr_pending:
                        self._partial = [piece]
                        self._partial_len = len(piece)
                        self._cr_pending = False
                    else:
                        self._partial.append(piece)
                        self._partial_len += len(piece)
            if self._updating and i == len(lines) - 1:
                self._send_state(final=False)
            elif not self._updating and i == len(lines) - 1 and self._partial_len >= self.bridge.max_event_chars:
                self.flush()

    def _send_state(self, final: bool) -> None:
        """Send the updating line's current state: the first at once, the next rate-limited."""
        state = "".join(self._partial)
        if not state or state == self._sent_state:
            return
        now = time.monotonic()
        if self._sent_state is None:
            self.bridge.put_text(state + "\n")  # its first state is a line like any other
        elif final or now - self._sent_at >= UPDATE_INTERVAL:
            self.bridge.put_update(state + "\n")
        else:
            return
        self._sent_state = state
        self._sent_at = now

    def _end_line(self) -> None:
        """A newline: the current line is complete."""
        if self._updating:
            self._send_state(final=True)
            self._updating = self._cr_pending = False
            self._sent_state = None
        else:
            self.bridge.put_text("".join(self._partial) + "\n")
        self._partial.clear()
        self._partial_len = 0

    def flush(self) -> None:
        """Send the partial line, if any (called on flush, on yield and when the thread's work ends).

        An updating line sends its state instead, rate-limited: progress bars flush after
        every step.
        """
        if self._updating:
            self._send_state(final=False)
        elif self._partial:
            text = "".join(self._partial)
            self._partial.clear()
            self._partial_len = 0
            self.bridge.put_text(text)

    def close(self) -> None:
        """The thread's work for the job ends: what it printed is sent, an updating line's last state too."""
        if self._updating:
            self._send_state(final=True)
            self._updating = self._cr_pending = False
            self._slow = bool(self._esc)
            self._sent_state = None
            self._partial.clear()
            self._partial_len = 0
        else:
            self.flush()


def echo(name: str, text: str) -> None:
    """Copy job output to the server console, each line prefixed with the job's name."""
    console = sys.__stdout__
    if console is None:
        return
    prefix = f"[{name}] "
    lines = text.splitlines(keepends=True)
    out = "".join(prefix + (line if line.endswith("\n") else line + "\n") for line in lines)
    # A job may print anything, lone surrogates included: the console's encoding must not fail.
    encoding = getattr(console, "encoding", None) or "utf-8"
    out = out.encode(encoding, "backslashreplace").decode(encoding, "replace")
    with _echo_lock:
        console.write(out)
        console.flush()
