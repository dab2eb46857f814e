"""The sandbox an example runs in: a new, limited interpreter in a temporary directory, offline.

What runs there, and the limits (``Limits``):

- in a new interpreter (``python -s -P``: no user site-packages, no script
  directory on ``sys.path``) with an empty environment but for ``PATH``, a UTF-8
  locale and ``PYTHONHASHSEED=0`` (``-I`` would ignore that seed, and set
  ordering would then differ from run to run, so a quiz's "what does this
  print?" could not be answered), in a fresh temporary directory that is its
  working directory and ``HOME``, deleted afterwards;
- no network: connecting a socket raises ``OSError`` (an example that fetches a page is shown, not run);
- stdin is empty; stdout and stderr go to one file in that directory (the learner sees both), capped by
  ``RLIMIT_FSIZE``; address space (``RLIMIT_AS``), CPU seconds, open files and
  core dumps are limited by the child itself before it reads the code (not in a
  ``preexec_fn``, which is unsafe in the service's threaded process); a
  wall-clock timeout kills its whole process group.

Output and errors name no path of the server: the interpreter's own files are shown as
``<stdlib>/contextlib.py`` and the example's working directory and ``HOME`` as ``/home/learner``
(``shorten_paths``), so ``Path.home()`` and ``Path("x").absolute()`` print true-looking, consistent paths.
The example sees ``sys.argv == ["example.py"]``, as a script run by that name would: the pipe its runner
reads back from is passed in the environment (and removed from ``os.environ`` before the code runs).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ("LEARNER_HOME", "Limits", "Raw", "execute", "failure", "shorten_paths")

# Where an example seems to run: its working directory and ``HOME`` as its output shows them.
LEARNER_HOME = "/home/learner"


@dataclass(frozen=True, slots=True)
class Limits:
    wall_seconds: float = 2.0
    cpu_seconds: int = 2
    memory_bytes: int = 512 * 1024 * 1024
    output_bytes: int = 16 * 1024  # what is kept; the file itself is capped at 4x that
    open_files: int = 64


# The child: limits first, then the statements.  A session's bare expression is
# evaluated and, like the interpreter does, shown unless it is None; the indices
# of those shown are reported back, so that the shown script says print(...) for
# exactly those and nothing else.
_BOOTSTRAP = """\
import json, os, resource, sys
for limit, value in {limits}:
    resource.setrlimit(limit, (value, value))
report = int(os.environ.pop("EXAMPLE_REPORT_FD"))
sys.argv = ["example.py"]
statements = json.loads(sys.stdin.read())
sys.stdin = open(os.devnull)
import socket
def _offline(*args, **kwargs):
    raise OSError("no network here: examples run offline")
socket.socket.connect = socket.socket.connect_ex = _offline
socket.getaddrinfo = socket.create_connection = _offline
import types
main = types.ModuleType("__main__")  # the example's own: ``unittest.main()`` finds its tests there
main.__builtins__ = __builtins__
sys.modules["__main__"] = main
namespace = main.__dict__
shown = []
as_repr = []
try:
    for index, (source, is_expression) in enumerate(statements):
        if is_expression:
            value = eval(compile(source.strip(), "example.py", "eval"), namespace)
            if value is not None:
                text = repr(value)
                print(text)
                shown.append(index)
                if text != str(value):
                    as_repr.append(index)
        else:
            exec(compile(source, "example.py", "exec"), namespace)
finally:
    sys.stdout.flush()
    os.write(report, json.dumps([shown, as_repr]).encode())
"""



def _bootstrap(limits: Limits) -> str:
    pairs = [
        ("resource.RLIMIT_AS", limits.memory_bytes),
        ("resource.RLIMIT_CPU", limits.cpu_seconds),
        ("resource.RLIMIT_FSIZE", limits.output_bytes * 4),
        ("resource.RLIMIT_NOFILE", limits.open_files),
        ("resource.RLIMIT_CORE", 0),
    ]
    return _BOOTSTRAP.format(limits="[" + ", ".join(f"({name}, {value})" for name, value in pairs) + "]")


def _last_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def _server_paths() -> list[tuple[str, str]]:
    """(path, what learners see instead), longest first: the interpreter's files and prefixes."""
    paths = sysconfig.get_paths()
    pairs = [(paths.get("stdlib", ""), "<stdlib>"), (paths.get("platstdlib", ""), "<stdlib>"),
             (paths.get("purelib", ""), "<site-packages>"), (paths.get("platlib", ""), "<site-packages>"),
             (sys.base_prefix, "<python>"), (sys.base_exec_prefix, "<python>"), (sys.prefix, "<python>"),
             (sys.exec_prefix, "<python>")]
    # Tracebacks may name a file through its real path (a symlinked prefix, a pyenv shim).
    pairs += [(os.path.realpath(path), shown) for path, shown in pairs if path]
    unique = {path.rstrip(os.sep): shown for path, shown in pairs if len(path.rstrip(os.sep)) > 1}
    return sorted(unique.items(), key=lambda pair: -len(pair[0]))


def shorten_paths(text: str, working_directory: str = "") -> str:
    """``text`` without the server's absolute paths: an example's output reaches learners (the course,
    the progress lines), and where the server keeps its interpreter is not theirs to know.

    The example's working directory (its ``HOME`` too) becomes ``/home/learner`` (``LEARNER_HOME``), a
    directory a learner's own run could show; the interpreter's files, ``<stdlib>/json/__init__.py``.
    """
    if working_directory:
        for directory in sorted({working_directory, os.path.realpath(working_directory)}, key=len, reverse=True):
            text = re.sub(rf"{re.escape(directory)}(?![\w.-])", LEARNER_HOME, text)
    for path, shown in _server_paths():
        text = text.replace(path, shown)
    return text


@dataclass(frozen=True, slots=True)
class Raw:
    status: int
    timed_out: bool
    output: str  # paths shortened
    errors: str  # the end of the output, where a traceback is
    printed: frozenset[int]
    as_repr: frozenset[int]
    seconds: float


def execute(statements: tuple[tuple[str, bool], ...], limits: Limits) -> Raw:
    """Run statements in a separate, limited process (see the module's docstring)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="example-") as temporary:
        work = Path(temporary)
        env = {"PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0",
               "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1", "HOME": temporary,
               # Unbuffered: stdout and stderr share one file, in the order a terminal shows them.
               "PYTHONUNBUFFERED": "1",
               "TMPDIR": temporary}
        # One file for both streams: what a learner running the code sees in a terminal includes
        # stderr (logging's messages, warnings), and a traceback ends it when the code fails.
        with open(work / ".stdout", "w+b") as stdout, open(work / ".stdin", "w+b") as stdin:
            stdin.write(json.dumps(statements).encode())
            stdin.seek(0)
            report_read, report_write = os.pipe()
            try:
                process = subprocess.Popen(
                    [sys.executable, "-s", "-P", "-c", _bootstrap(limits)],
                    stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT, cwd=work,
                    env={**env, "EXAMPLE_REPORT_FD": str(report_write)}, start_new_session=True,
                    pass_fds=(report_write,),
                )
            finally:
                os.close(report_write)
            try:
                status = process.wait(timeout=limits.wall_seconds)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                status = process.wait()
                timed_out = True
            stdout.seek(0)
            output = stdout.read(limits.output_bytes + 1).decode("utf-8", errors="replace")
            stdout.seek(max(0, stdout.seek(0, os.SEEK_END) - limits.output_bytes))
            errors = stdout.read(limits.output_bytes).decode("utf-8", errors="replace")  # the end: a traceback
            with os.fdopen(report_read, "rb") as report:
                reported = report.read(65536)
        output, errors = shorten_paths(output, temporary), shorten_paths(errors, temporary)
    try:
        shown, as_repr = json.loads(reported or b"[[], []]")
        printed, reprs = frozenset(int(i) for i in shown), frozenset(int(i) for i in as_repr)
    except (ValueError, TypeError):
        printed, reprs = frozenset(), frozenset()
    return Raw(status, timed_out, output, errors, printed, reprs, time.perf_counter() - started)


def failure(raw: Raw, limits: Limits) -> str:
    """Why a run did not end well ("" when it did)."""
    if raw.timed_out:
        return f"timed out after {limits.wall_seconds:g} s"
    if raw.status == 0:
        return ""
    reason = _last_error_line(raw.errors)
    if raw.status in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"stopped: more than {limits.cpu_seconds} s of CPU time"
    if not reason:
        return f"killed by signal {-raw.status}" if raw.status < 0 else f"exited with status {raw.status}"
    return reason

