"""What printed text looks like once it leaves a terminal: no colour codes, progress bars as one line.

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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._events import Progress

__all__ = ("MAX_ERROR_MESSAGE", "UPDATE_INTERVAL", "ProgressUpdate", "short_error_message", "strip_ansi")

MAX_ERROR_MESSAGE = 200
UPDATE_INTERVAL = 0.25  # seconds between two states of one updating line sent to clients

# CSI (ESC [ … final byte), OSC (ESC ] … BEL or ESC \), and the two-character escapes.
# CSI (colours, cursor moves), OSC (titles, links), the other two-byte and nF sequences, and an
# ESC that starts none of them: none of it is text, and a client would show it as garbage.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~]|)")
# An escape sequence cut off at the end of a write: held until the next write completes it.
_ANSI_TAIL = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[ -/]+)?\Z")


@dataclass(frozen=True, slots=True)
class ProgressUpdate(Progress):
    """A new state of the updating line last sent (a progress bar): it replaces that line.

    A ``Progress`` too, so a client that does not know updates shows it as one more line.
    """


def strip_ansi(text: str) -> tuple[str, str]:
    """``text`` without ANSI escape sequences, and an unfinished sequence at its end (or "")."""
    tail = _ANSI_TAIL.search(text)
    held = ""
    if tail is not None:
        held = tail.group()
        text = text[: tail.start()]
    return _ANSI.sub("", text), held


def short_error_message(exc: BaseException) -> str:
    """One line a client may see: the exception's type and first line, never a traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(message) > MAX_ERROR_MESSAGE:
        message = message[: MAX_ERROR_MESSAGE - 1] + "…"
    return message
