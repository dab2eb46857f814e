"""Examples that run: a documentation snippet becomes a script, runs in a separate process, and
its real output is what the course shows.

What runs, and the limits (see ``Limits``):

- only code from documents the operator trusts (the manual; files ingested with
  ``--trust-code``): ``CourseGeneratorAgent`` checks before calling ``run``;
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

An interactive session (``>>>``) becomes plain Python: a bare expression whose
value the session shows is printed as the interpreter shows it (its ``repr``: ``'a'``, quotes
and all; the shown code says ``print(repr(...))`` where that differs from ``print(...)``), and a
statement the session shows failing is wrapped in ``try``/``except`` so that the error, when it is the lesson, is
real output too.  The shown code is exactly the code that ran.

Output and errors name no path of the server: the interpreter's own files are shown as
``<stdlib>/contextlib.py`` and the example's working directory and ``HOME`` as ``/home/learner``
(``shorten_paths``), so ``Path.home()`` and ``Path("x").absolute()`` print true-looking, consistent paths.
The example sees ``sys.argv == ["example.py"]``, as a script run by that name would: the pipe its runner
reads back from is passed in the environment (and removed from ``os.environ`` before the code runs).
"""

from __future__ import annotations

import ast
import builtins
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

__all__ = ("LEARNER_HOME", "Example", "Limits", "Run", "from_session", "prepare", "run", "run_session",
           "shorten_paths")


# Where an example seems to run: its working directory and ``HOME`` as its output shows them.
LEARNER_HOME = "/home/learner"


@dataclass(frozen=True, slots=True)
class Limits:
    wall_seconds: float = 2.0
    cpu_seconds: int = 2
    memory_bytes: int = 512 * 1024 * 1024
    output_bytes: int = 16 * 1024  # what is kept; the file itself is capped at 4x that
    open_files: int = 64


@dataclass(frozen=True, slots=True)
class Example:
    """A snippet ready to run: its statements, each marked when it is a bare expression of a session."""

    statements: tuple[tuple[str, bool], ...]  # (source, show its value as the interpreter would)
    expected: str  # the output the document shows, if it shows one ("" otherwise)
    shows_error: bool  # the document shows an exception on purpose

    def code(self, printed: frozenset[int] = frozenset(), as_repr: frozenset[int] = frozenset()) -> str:
        """The example as a script: ``print(expr)`` for the session's expressions whose value was shown,
        ``print(repr(expr))`` for those whose ``repr`` (what the interpreter shows) is not their ``str``."""
        return "\n".join(
            (f"print(repr({_one(source)}))" if i in as_repr else f"print({_one(source)})") if i in printed
            else source
            for i, (source, _) in enumerate(self.statements)
        )


def _one(expression: str) -> str:
    """An expression as one argument: ``x.r, x.i`` is a tuple, and ``print(x.r, x.i)`` would print
    ``3.0 -4.5``, not the ``(3.0, -4.5)`` the session showed."""
    text = expression.strip()
    try:
        call = ast.parse(f"print({text})", mode="eval").body
    except SyntaxError:
        return f"({text})"  # a bare generator expression, a starred tuple: one argument once parenthesised
    if isinstance(call, ast.Call) and len(call.args) == 1 and not call.keywords:
        return text
    return f"({text})"


@dataclass(frozen=True, slots=True)
class Run:
    ok: bool
    code: str  # valid Python: exactly what ran, and what the course shows
    output: str  # stdout (truncated to the limit)
    error: str  # "NameError: name 'x' is not defined", "timed out after 3 s" …; "" when ok
    seconds: float


_DOCTEST_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")
_PROMPT = re.compile(r"^(>>>|\.\.\.)( |$)")


def _statements(session: str) -> list[tuple[str, list[str]]]:
    """(source, expected output lines) per ``>>>`` statement of an interactive session."""
    items: list[tuple[list[str], list[str]]] = []
    for line in session.splitlines():
        line = _DOCTEST_DIRECTIVE.sub("", line)  # "# doctest: +SKIP" is for the manual's tests, not a learner
        if line.startswith(">>>"):
            items.append(([line[4:]], []))
        elif line.startswith("...") and items and not items[-1][1]:
            items[-1][0].append(line[4:])
        elif items and line.strip():
            items[-1][1].append(line)
        elif items and items[-1][1]:
            items[-1][1].append("")
    return [("\n".join(src).rstrip(), out) for src, out in items]


def _exception_name(expected: list[str]) -> str:
    last = next((line.strip() for line in reversed(expected) if line.strip()), "")
    name = last.split(":", 1)[0].rsplit(".", 1)[-1]
    return name if isinstance(getattr(builtins, name, None), type) else "Exception"


def from_session(session: str) -> Example | None:
    """An interactive session as statements to run, or None when it is not Python."""
    statements: list[tuple[str, bool]] = []
    expected: list[str] = []
    shows_error = False
    for source, output in _statements(session):
        if not source.strip():
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return None
        out = [line for line in output if line.strip()]
        if out and out[0].startswith("Traceback"):
            # The session shows this statement failing: the error is the lesson, so it is caught
            # and printed, and the script goes on as the session did.
            shows_error = True
            name = _exception_name(out)
            shown = f'    print("{name}:", error)' if name != "Exception" else (
                '    print(type(error).__name__ + ":", error)')
            body = "\n".join("    " + line for line in source.splitlines())
            statements.append((f"try:\n{body}\nexcept {name} as error:\n{shown}", False))
            expected.append(out[-1])
            continue
        node = tree.body[0] if len(tree.body) == 1 else None
        if isinstance(node, ast.Expr):
            # The expression alone: a trailing comment ("# doctest: +SKIP") must not end up
            # inside the print(...) that may wrap it.
            statements.append((ast.get_source_segment(source, node.value) or source, True))
        else:
            statements.append((source, False))
        expected += out
    if not statements:
        return None
    return Example(tuple(statements), "\n".join(expected), shows_error)


def prepare(code: str, language: str) -> Example | None:
    """A literal block of the documents as an example to run, or None when it is not Python."""
    text = code.strip("\n")
    if language == "pycon" or text.lstrip().startswith(">>>"):
        return from_session(text)
    if language != "python":
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    if all(isinstance(node, (ast.Import, ast.ImportFrom, ast.Pass)) for node in tree.body):
        return None  # nothing to see
    if all(isinstance(node, ast.Expr) and _literal(node.value) for node in tree.body):
        return None  # "This will print::" and the values it prints: output, not code
    return Example(_script_statements(text, tree), "", False)


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def _script_statements(text: str, tree: ast.Module) -> tuple[tuple[str, bool], ...]:
    """A script as statements: its last one, when a bare expression, shown as the interpreter would.

    A script that ends on ``sorted(data, key=len)`` computes its lesson and throws it away; a
    teacher shows that value, as a notebook does for a cell's last expression.  A call that
    returns ``None`` (``print(...)``) shows nothing more, and its code stays as written.
    """
    last = tree.body[-1]
    shown = _assigned_value(tree)
    if shown:
        # ``squares = [x**2 for x in range(10)]`` computes its lesson into a name: that name's value.
        return ((text, False), (shown, True))
    if not isinstance(last, ast.Expr) or isinstance(last.value, ast.Constant):
        return ((text, False),)  # a constant (a docstring, ``...``) is no lesson
    lines = text.splitlines()
    head = "\n".join(lines[: last.lineno - 1]).rstrip()
    tail = "\n".join(lines[last.lineno - 1 :])
    if last.col_offset or ";" in tail:
        return ((text, False),)  # not a statement of its own line (``x = 1; x``): never cut in two
    value = ast.get_source_segment(text, last.value) or tail
    if not head:
        return ((value, True),)
    return ((head, False), (value, True))


# Values whose repr is what they are: a list built by a comprehension, a dict, a string, a sum.
_SHOWN_VALUES = (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.Constant,
                 ast.JoinedStr, ast.BinOp, ast.Subscript)


def _assigned_value(tree: ast.Module) -> str:
    """The name a script that prints nothing ends by assigning a plain value to ("" otherwise)."""
    last = tree.body[-1]
    if not (isinstance(last, ast.Assign) and len(last.targets) == 1 and isinstance(last.targets[0], ast.Name)
            and isinstance(last.value, _SHOWN_VALUES)):
        return ""
    prints = any(isinstance(node, ast.Name) and node.id in ("print", "input") for node in ast.walk(tree))
    return "" if prints else last.targets[0].id


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
class _Raw:
    status: int
    timed_out: bool
    output: str  # paths shortened
    errors: str  # the end of the output, where a traceback is
    printed: frozenset[int]
    as_repr: frozenset[int]
    seconds: float


def _execute(statements: tuple[tuple[str, bool], ...], limits: Limits) -> _Raw:
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
    return _Raw(status, timed_out, output, errors, printed, reprs, time.perf_counter() - started)


def _failure(raw: _Raw, limits: Limits) -> str:
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


def run(example: Example, limits: Limits | None = None) -> Run:
    """Run ``example`` in a separate, limited process; its real output and whether it ended well."""
    limits = limits or Limits()
    raw = _execute(example.statements, limits)
    code = example.code(raw.printed, raw.as_repr)
    output = raw.output
    if len(output) > limits.output_bytes:
        output = output[: limits.output_bytes] + "\n… (output cut)"
    error = _failure(raw, limits)
    return Run(not error, code, output if error else output.rstrip("\n"), error, raw.seconds)


_MARK = "\x1eexample-boundary\x1e"


def run_session(examples: list[Example], limits: Limits | None = None) -> list[Run | None]:
    """Run examples one after the other in one interpreter, as the manual's session does (the second
    uses what the first defined); each gets its own code and output.  The one that fails ends the
    session: it gets its error, and those after it ``None``."""
    limits = limits or Limits()
    statements: list[tuple[str, bool]] = []
    ranges: list[range] = []
    for number, example in enumerate(examples):
        if number:
            statements.append((f"print({_MARK!r})", False))
        first = len(statements)
        statements += example.statements
        ranges.append(range(first, len(statements)))
    raw = _execute(tuple(statements), limits)
    error = _failure(raw, limits)
    pieces = raw.output.split(_MARK + "\n")
    runs: list[Run | None] = []
    for number, (example, span) in enumerate(zip(examples, ranges, strict=True)):
        if number >= len(pieces):
            runs.append(None)
            continue
        printed = frozenset(i - span.start for i in raw.printed if i in span)
        as_repr = frozenset(i - span.start for i in raw.as_repr if i in span)
        output = pieces[number]
        failed = bool(error) and number == len(pieces) - 1
        if len(output) > limits.output_bytes:
            output = output[: limits.output_bytes] + "\n… (output cut)"
        runs.append(Run(not failed, example.code(printed, as_repr), output.rstrip("\n"), error if failed else "",
                        raw.seconds / len(examples)))
    return runs
