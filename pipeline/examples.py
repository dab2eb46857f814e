"""Examples that run: a documentation snippet becomes a script, runs in a separate process
(``sandbox``: limited, offline, in a temporary directory), and its real output is what the course shows.

Only code from documents the operator trusts runs (the manual; files ingested with
``--trust-code``): ``CourseGeneratorAgent`` checks before calling ``run``.

An interactive session (``>>>``) becomes plain Python: a bare expression whose
value the session shows is printed as the interpreter shows it (its ``repr``: ``'a'``, quotes
and all; the shown code says ``print(repr(...))`` where that differs from ``print(...)``), and a
statement the session shows failing is wrapped in ``try``/``except`` so that the error, when it is the lesson, is
real output too.  The shown code is exactly the code that ran.

Output and errors name no path of the server (``shorten_paths``: ``<stdlib>/…``, ``/home/learner``).
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from .sandbox import LEARNER_HOME, Limits, execute, failure, shorten_paths

__all__ = ("LEARNER_HOME", "Example", "Limits", "Run", "from_session", "prepare", "run", "run_session",
           "shorten_paths")


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
    several = _bare_values(text, tree)
    if several:
        return several
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


def _bare_values(text: str, tree: ast.Module) -> tuple[tuple[str, bool], ...]:
    """A script of several bare values (``(1, 2, 3) < (1, 2, 4)`` a line, comparisons in a row) as the
    session it stands for: each value shown, not only the last, so that every line's result is on
    the page.  Calls stay statements (``f.write(s)`` returns a count a script never shows); ``()``
    when fewer than two such values."""
    lines = text.splitlines()
    values = [node for node in tree.body if isinstance(node, ast.Expr) and not isinstance(
        node.value, (ast.Constant, ast.Call, ast.Await, ast.Yield, ast.YieldFrom)) and node.col_offset == 0
        and node.lineno == node.end_lineno and ";" not in lines[node.lineno - 1]]
    if len(values) < 2:
        return ()
    out: list[tuple[str, bool]] = []
    start = 1
    for node in values:
        head = "\n".join(lines[start - 1 : node.lineno - 1]).strip("\n")
        if head.strip():
            out.append((head, False))
        out.append((lines[node.lineno - 1].split("#")[0].rstrip() if "#" in lines[node.lineno - 1] and
                     _parses(lines[node.lineno - 1].split("#")[0]) else lines[node.lineno - 1], True))
        start = node.lineno + 1
    tail = "\n".join(lines[start - 1 :]).strip("\n")
    if tail.strip():
        out.append((tail, False))
    return tuple(out)


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


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



def run(example: Example, limits: Limits | None = None) -> Run:
    """Run ``example`` in a separate, limited process; its real output and whether it ended well."""
    limits = limits or Limits()
    raw = execute(example.statements, limits)
    code = example.code(raw.printed, raw.as_repr)
    output = raw.output
    if len(output) > limits.output_bytes:
        output = output[: limits.output_bytes] + "\n… (output cut)"
    error = failure(raw, limits)
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
    raw = execute(tuple(statements), limits)
    error = failure(raw, limits)
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
