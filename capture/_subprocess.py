"""A subprocess whose output is the job's, and which dies with it.

``subprocess.run`` lets the child write to the server's own file descriptors 1 and
2, beneath any Python-level proxy: its output would reach the server console.  Here
the child's stdout and stderr are pipes, read as they come (in chunks, not lines, so
that a child's carriage-return progress bar updates too) and written to the job's
stdout and stderr.  A line the child has only half written is sent once the pipe
has been quiet for ``_PARTIAL_WAIT`` (a prompt, a "Downloading... " before its
"done"), not after every chunk: an unbuffered child writes ``print``'s text and its
newline in two writes, and flushing between them would cut the line in two and let
the other pipe's line in between.  The child runs in its own session, so that cancelling the job
kills it and everything it started (``SIGKILL`` to its process group) at once.
"""

from __future__ import annotations

import codecs
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from ._bridge import JobCancelled, on_cancel

__all__ = ("run_process",)

_CHUNK = 64 * 1024
# How long the pipe stays quiet before a half-written line is sent as it is.
_PARTIAL_WAIT = 0.1


def run_process(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> int:
    """Run a command, its stdout and stderr streamed into the job as it writes them; return its exit status.

    ``check`` (the default) raises ``subprocess.CalledProcessError`` when it fails.
    When the job is cancelled, the command and its children are killed and
    ``JobCancelled`` is raised.  Outside a job the output goes to ``sys.stdout`` and
    ``sys.stderr`` all the same.
    """
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    killed = False

    def kill() -> None:
        nonlocal killed
        killed = True
        _kill_group(process)

    try:
        with on_cancel(kill):
            # The stderr reader is started from this thread, so it works for the same job.
            errors = threading.Thread(
                target=_copy, args=(process.stderr, "stderr"), name="capture-subprocess-stderr", daemon=True
            )
            errors.start()
            _copy(process.stdout, "stdout")
            errors.join()
            status = process.wait()
    finally:
        if process.poll() is None:  # left early (the job was cancelled while writing): no orphan
            _kill_group(process)
            process.wait()
        process.stdout.close()
        process.stderr.close()
    if killed:
        raise JobCancelled("the job was cancelled while its command ran")
    if check and status != 0:
        raise subprocess.CalledProcessError(status, [os.fspath(arg) for arg in args])
    return status


def _copy(pipe: IO[bytes], stream: str) -> None:
    """The child's bytes, as text, to this thread's ``sys.stdout`` or ``sys.stderr``."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    fd = pipe.fileno()
    out = sys.stdout if stream == "stdout" else sys.stderr
    partial = False  # the last text written did not end its line
    try:
        while True:
            if partial and not select.select([fd], [], [], _PARTIAL_WAIT)[0]:
                out.flush()  # the child paused mid-line: show what it wrote so far
                partial = False
                continue
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            text = decoder.decode(chunk)
            if text:
                out.write(text)
                partial = not text.endswith("\n")
        tail = decoder.decode(b"", final=True)
        if tail:
            out.write(tail)
        out.flush()
    except JobCancelled:
        pass  # the job is over: the child is being killed


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
