"""Quiz questions that test understanding, each with an answer that was checked by running code.

- Predict the output of a changed version of an example: a change that matters (other input data,
  another argument, a flag flipped), run in the sandbox after the examples it builds on; kept only
  when its output differs from the example's and does not vary from run to run.
- Spot the bug the manual warns about: the code of a note or warning, its real output and why.
- Pick the right API for a task: the entry's first sentence, its name hidden, among sibling
  entries of the same page.

Never the example itself with its answer, never a sentence to quote back.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from . import examples as runner
from .enhancer import ApiItem, CourseExample, Outline
from .phrases import phrase
from .scoring import BUILTIN_PAGES
from .snippets import teaches, varies

__all__ = ("build_quiz", "mutations")

MAX_CHANGED = 2
MAX_QUESTIONS = 4
MAX_RUNS = 8  # changed versions tried per course: each is a process
MAX_OUTPUT_CHARS = 300
MAX_CODE_LINES = 25
OPTIONS = 4


def _fence(code: str, language: str) -> str:
    fence = "~~~~" if "```" in code else "```"
    return f"{fence}{language}\n{code}\n{fence}"


def _span(code: str, node: ast.expr) -> tuple[int, int] | None:
    """Where a node is in ``code``, as string offsets (``ast`` counts columns in UTF-8 bytes)."""
    if node.end_lineno is None or node.end_col_offset is None:
        return None
    lines = code.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(lineno: int, col: int) -> int:
        return starts[lineno - 1] + len(lines[lineno - 1].encode()[:col].decode(errors="ignore"))

    return offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)


def _replacement(node: ast.expr, parent: ast.AST | None) -> str | None:
    """Another value that makes a difference: a number moved, data cut, a separator or flag changed,
    another item picked (``pair[1]`` → ``pair[0]``)."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(parent, ast.Subscript) and type(value) is int and value in (0, 1):
            return repr(1 - value)
        if isinstance(value, bool):
            return repr(not value) if isinstance(parent, ast.keyword) else None
        if (type(value) is int and value == 0 and isinstance(parent, ast.BinOp) and parent.right is node
                and isinstance(parent.op, (ast.Div, ast.FloorDiv, ast.Mod))):
            return "2"  # no division by zero: does the handler still run?
        if isinstance(value, int) and value not in (0, 1):
            return repr(value + 2 if value <= 3 else value - 2)
        if isinstance(value, str):
            if 0 < len(value) <= 2 and not value.isalnum():
                return repr("-" if value.strip() != "-" else ":")
            words = value.split()
            if len(words) >= 2 and len(value) <= 60:
                return repr(" ".join(words[1:]))
            if 2 <= len(value) <= 40 and "\n" not in value:
                return repr(value[:-1])  # shorter data: 'abc' → 'ab'
        return None
    if isinstance(node, (ast.List, ast.Tuple)) and len(node.elts) >= 3:
        # The same items in the other order (does the order matter?), else one item fewer.
        items = [ast.unparse(e) for e in (reversed(node.elts) if not _constants(node) else node.elts[:-1])]
        inner = ", ".join(items)
        return f"[{inner}]" if isinstance(node, ast.List) else f"({inner})"
    return None


# Another call of the same kind, whose answer a learner has to work out: the other end, the other
# order, the other half.  ``sorted(x)`` gets ``reverse=True``; ``pop()`` takes the first item instead.
_OTHER_CALL = {"max": "min", "min": "max", "any": "all", "all": "any", "lstrip": "rstrip", "rstrip": "lstrip",
               "upper": "lower", "lower": "upper", "startswith": "endswith", "endswith": "startswith",
               "keys": "values", "values": "keys", "find": "rfind", "index": "count", "ljust": "rjust",
               "rjust": "ljust", "search": "match", "match": "search", "floor": "ceil", "ceil": "floor"}


def _other_call(call: ast.Call) -> tuple[ast.expr, str | None]:
    """(the node to replace, its replacement) for a call that has another of its kind, else (call, None)."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name in ("sorted", "sort") and not any(k.arg == "reverse" for k in call.keywords):
        changed = ast.Call(func, call.args, [*call.keywords, ast.keyword("reverse", ast.Constant(True))])
        return call, ast.unparse(changed)
    if name == "pop" and not call.args and isinstance(func, ast.Attribute):
        return call, ast.unparse(ast.Call(func, [ast.Constant(0)], []))
    if name in _OTHER_CALL:
        if isinstance(func, ast.Attribute):
            return func, ast.unparse(ast.Attribute(func.value, _OTHER_CALL[name], ast.Load()))
        return func, _OTHER_CALL[name]
    return call, None


def _constants(node: ast.List | ast.Tuple) -> bool:
    return all(isinstance(e, ast.Constant) for e in node.elts)


def _printed(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether a constant is (part of) what a ``print()`` call shows as it is."""
    parent = parents.get(node)
    while isinstance(parent, (ast.Tuple, ast.List)):
        parent = parents.get(parent)
    return (isinstance(node, ast.Constant) and isinstance(node.value, str) and isinstance(parent, ast.Call)
            and isinstance(parent.func, ast.Name) and parent.func.id == "print")


def mutations(code: str, features: set[str]) -> Iterator[tuple[str, str, str]]:
    """Changed versions of ``code`` as (new code, old text, new text), those on a line that uses the
    subject's own API or syntax first."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[tuple[int, int, str, str, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr) or (isinstance(parents.get(node), ast.Expr) and isinstance(
                node, ast.Constant)):
            continue  # a docstring is no data
        if isinstance(parents.get(node), ast.JoinedStr | ast.FormattedValue) or _printed(node, parents):
            continue  # a message print() shows: changing it changes the output, and teaches nothing
        new = _replacement(node, parents.get(node))
        parent = parents.get(node)
        if (isinstance(parent, ast.BinOp) and parent.right is node and isinstance(node, ast.Constant)
                and type(node.value) is int and node.value == 0 and new is not None):
            node, new = parent, ast.unparse(ast.BinOp(parent.left, parent.op, ast.Constant(2)))  # "1/0" → "1/2"
        if new is None and isinstance(node, ast.Call):
            node, new = _other_call(node)
        span = _span(code, node)
        if new is None or span is None:
            continue
        old = code[span[0] : span[1]]
        if old == new:
            continue
        line = code.splitlines()[node.lineno - 1]
        rank = 0 if teaches(line.strip(), features) else 1
        found.append((rank, span[0], code[: span[0]] + new + code[span[1] :], old, new))
    found += _handlers_reversed(code, tree, features)
    found += _declarations_dropped(code, tree)
    for _, _, changed, old, new in sorted(found, key=lambda f: (f[0], f[1])):
        yield changed, old, new


_PYTHON_ERROR = re.compile(r"^[A-Z]\w*(?:Error|Exception): ")
_REMOVED = "\x00removed"  # a mutation that takes a line away, not one that changes it


def _declarations_dropped(code: str, tree: ast.Module) -> list[tuple[int, int, str, str, str]]:
    """A function without its ``nonlocal`` or ``global`` line: the assignment then binds a local name,
    and what the code prints changes (or it fails) — the point of the declaration.  A loop without its
    ``break`` or ``continue``, likewise."""
    lines = code.splitlines()
    out: list[tuple[int, int, str, str, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or len(node.body) < 2:
            continue
        for statement in node.body:
            if isinstance(statement, (ast.Nonlocal, ast.Global)) and statement.lineno == statement.end_lineno:
                line = lines[statement.lineno - 1]
                changed = "\n".join(lines[: statement.lineno - 1] + lines[statement.lineno :])
                out.append((0, -1, changed, line.strip(), _REMOVED))
    for node in ast.walk(tree):  # a loop without its ``break`` or ``continue``: what it was for
        if isinstance(node, (ast.Break, ast.Continue)):
            line = lines[node.lineno - 1]
            if line.strip() in ("break", "continue"):
                changed = "\n".join(lines[: node.lineno - 1] + lines[node.lineno :])
                try:
                    ast.parse(changed)
                except SyntaxError:
                    continue  # the block would be empty
                out.append((0, -1, changed, line.strip(), _REMOVED))
    return out


def _handlers_reversed(code: str, tree: ast.Module, features: set[str]) -> list[tuple[int, int, str, str, str]]:
    """A ``try`` whose ``except`` clauses are put in the other order: the first that matches wins, so
    the order matters (the tutorial's B, C, D example)."""
    lines = code.splitlines()
    out: list[tuple[int, int, str, str, str]] = []
    for node in ast.walk(tree):
        handlers = node.handlers if isinstance(node, ast.Try) else []
        if len(handlers) < 2 or any(h.type is None for h in handlers):
            continue  # a bare ``except:`` must come last: the other order is a SyntaxError
        if any(h.end_lineno is None for h in handlers):
            continue
        pieces = [lines[h.lineno - 1 : (handlers[i + 1].lineno - 1 if i + 1 < len(handlers) else h.end_lineno or 0)]
                  for i, h in enumerate(handlers)]
        first, last = handlers[0].lineno - 1, handlers[-1].end_lineno or 0
        changed = "\n".join([*lines[:first], *(line for piece in reversed(pieces) for line in piece), *lines[last:]])
        names = [ast.unparse(h.type) for h in handlers if h.type is not None]
        old = "except " + ", except ".join(names)
        new = "except " + ", except ".join(reversed(names))
        rank = 0 if "Try" in features else 1
        out.append((rank, -1, changed, old, new))
    return out


def _askable(example: CourseExample) -> bool:
    return (not example.varies and 0 < len(example.output) <= MAX_OUTPUT_CHARS
            and example.output.count("\n") < 10 and len(example.code.splitlines()) <= MAX_CODE_LINES)


def _changed(outline: Outline, limits: runner.Limits) -> list[tuple[str, str]]:
    """Changed examples to predict: one per example first, then, when that gave fewer than two, a
    second change of the same examples; never the same change twice."""
    questions: list[tuple[str, str]] = []
    tried: set[str] = set()
    asked: set[tuple[str, str]] = set()
    runs = 0
    askable = sorted(filter(_askable, outline.examples), key=lambda e: (not e.teaches, e.number))
    for round_ in range(2):
        for example in askable:
            if len(questions) >= MAX_CHANGED or runs >= MAX_RUNS or (round_ and len(questions) >= 2):
                return questions
            for changed, old, new in mutations(example.code, outline.features):
                if runs >= MAX_RUNS:
                    break
                if changed in tried or (old, new) in asked:
                    continue
                tried.add(changed)
                setup = [e for code in example.setup if (e := runner.prepare(code, "python")) is not None]
                target = runner.prepare(changed, "python")
                if target is None:
                    continue
                runs += 1
                result = runner.run_session([*setup, target], limits)[-1]
                # A declaration taken out that makes the code fail is a fine question too (``global spam``:
                # NameError); what it printed before the traceback, then the error.  A changed value that
                # only misses a key is no lesson.
                error = result.error if result is not None and not result.ok and new == _REMOVED and (
                    _PYTHON_ERROR.match(result.error)) else ""
                output = result.output.split("Traceback (most recent call last):")[0].rstrip() if result else ""
                if (result is None or (not result.ok and not error) or result.code != changed
                        or (output == example.output and not error) or not (output.strip() or error)
                        or len(output) > MAX_OUTPUT_CHARS or varies(changed, output)
                        or _echoes(example.output, output, old, new)):
                    continue
                asked.add((old, new))
                questions.append(_question(outline, example, changed, old, new, output, error))
                break
    return questions


def _question(outline: Outline, example: CourseExample, changed: str, old: str, new: str,
              output: str, error: str = "") -> tuple[str, str]:
    french = outline.french
    question = (phrase("q_removed", french, n=example.number, old=f"`{old}`") if new == _REMOVED
                else phrase("q_changed", french, n=example.number, old=f"`{old}`", new=f"`{new}`"))
    if example.continues:
        question += " " + phrase("q_after", french)
    question += "\n\n" + _fence(changed, "python")
    answer = f"{phrase('prints', french)}\n\n{_fence(output, 'text')}" if output else ""
    if error:
        answer += ("\n\n" if answer else "") + f"{phrase('a_fails', french)}\n\n{_fence(error, 'text')}"
    if example.output.count("\n") < 3:
        answer += f"\n\n{phrase('a_before', french)}\n\n{_fence(example.output, 'text')}"
    return question, answer


def _echoes(before: str, after: str, old: str, new: str) -> bool:
    """Whether a change only shows up as itself: ``'spam'`` → ``'spa'`` printed back, a file name in an
    error message, a pattern in its ``repr``.  Nothing to work out, so no question."""
    try:
        was, now = ast.literal_eval(old), ast.literal_eval(new)
    except (ValueError, SyntaxError):
        return False
    if not isinstance(was, str) or not isinstance(now, str) or len(was) < 3:  # a separator is no echo
        return False
    lines, changed = before.splitlines(), after.splitlines()
    if len(lines) != len(changed):
        return False
    return all(b == a or b.replace(was, now) == a for b, a in zip(lines, changed, strict=True))


def _pitfall(outline: Outline) -> tuple[str, str] | None:
    for pitfall in outline.pitfalls:
        if pitfall.code and pitfall.output and not varies(pitfall.code, pitfall.output):
            question = f"{phrase('q_pitfall', outline.french)}\n\n{_fence(pitfall.code, 'python')}"
            answer = (f"{phrase('prints', outline.french)}\n\n{_fence(pitfall.output, 'text')}\n\n"
                      f"{phrase('a_why', outline.french)} {_plain(pitfall.text)}")
            return question, answer
    return None


# "you have to use ``set()``, not ``{}``": the right code and the wrong one, both as the manual writes them.
_RIGHT_NOT_WRONG = re.compile(r"`(?P<right>[^`]{1,40})`,? (?:and )?not `(?P<wrong>[^`]{1,40})`")


def _right_not_wrong(outline: Outline, limits: runner.Limits) -> tuple[str, str] | None:
    """Spot the bug of a pitfall that names the right code and the wrong one: the wrong one run, and
    what its value is, beside what the right one's is."""
    for pitfall in outline.pitfalls:
        match = _RIGHT_NOT_WRONG.search(pitfall.text)
        if match is None:
            continue
        right, wrong = match.group("right"), match.group("wrong")
        try:
            ast.parse(right, mode="eval"), ast.parse(wrong, mode="eval")
        except SyntaxError:
            continue
        code = f"value = {wrong}\nprint(type(value), value)"
        example = runner.prepare(code, "python")
        right_run = runner.prepare(f"print(type({right}), {right})", "python")
        if example is None or right_run is None:
            continue
        wrong_result, right_result = runner.run_session([example, right_run], limits)  # one process for both
        if (wrong_result is None or right_result is None or not wrong_result.ok or not right_result.ok
                or wrong_result.output == right_result.output or varies(code, wrong_result.output)):
            continue
        question = phrase("q_not", outline.french, wrong=wrong, right=right)
        question += f"\n\n{_fence(wrong_result.code, 'python')}"
        answer = (f"{phrase('prints', outline.french)}\n\n{_fence(wrong_result.output, 'text')}\n\n"
                  f"`{right}` {phrase('a_instead', outline.french)} `{right_result.output}`. "
                  f"{phrase('a_why', outline.french)} {_plain(pitfall.text)}")
        return question, answer
    return None


def _plain(text: str) -> str:
    return re.sub(r"^(?:\*\*[^*]+[:.]\*\*|(?:Note|Warning|Caution|Important):)\s*", "", text)


def _pick_api(outline: Outline, count: int = 1) -> list[tuple[str, str]]:
    """Which entry does this? The entry's first sentence, its name hidden, among its siblings; up to
    ``count`` questions, each on another entry."""
    questions: list[tuple[str, str]] = []
    # What the lesson's code uses: its examples that ran, and the code its sections show.
    used = " ".join([*(e.code for e in outline.examples),
                     *(b.text for s in outline.sections for b in s.paragraphs if b.literal),
                     *(span for s in outline.sections for b in s.paragraphs if not b.literal
                       for span in re.findall(r"`([^`]+)`", b.text))])  # ``isinstance(obj, int)`` in prose
    ran = " ".join(e.code for e in outline.examples)

    def uses(a: ApiItem, code: str) -> bool:
        return bool(re.search(rf"\b{re.escape(a.name.rsplit('.', 1)[-1])}\b", code))

    # The subject's own names first (``iter`` for iterators), then what its examples ran, then the rest.
    targets = sorted((a for a in outline.api + outline.siblings if a.summary and uses(a, used)),
                     key=lambda a: (a.name.rsplit(".", 1)[-1] not in outline.features, not uses(a, ran))) or outline.api
    # Then the other entries of the subject's own module (``dataclasses.asdict`` in a dataclasses course);
    # never the built-ins' pages, whose other entries (``abs`` in a classes course) are another subject.
    targets += [a for a in outline.api + outline.siblings if a.summary and a not in targets
                and a.doc_id.rsplit("/", 1)[-1] not in BUILTIN_PAGES]
    for target in targets:
        short = target.name.rsplit(".", 1)[-1]
        task = re.split(r"(?<=\.)\s", target.summary, maxsplit=1)[0]
        named = re.compile(rf"`?\b{re.escape(short)}\b(?:\(\))?`?")
        if (not 20 <= len(task) <= 240 or len(named.findall(task)) > 2
                or re.match(r"(?:Note|See|This|It|These|The above|For|If|In|When|As|With|By|On|Unlike|Like|"
                            r"Since|Because|Although|Also|However|Changed|New)\b", task)):  # not a description
            continue
        task = named.sub("…", task)  # the name would give the answer away
        # Never a near-namesake (``Field``, ``fields`` for ``field``): a spelling, not an API, to tell apart.
        others = [s for s in outline.siblings + outline.api if s.name != target.name and s.summary
                  and s.summary.split(".")[0] != target.summary.split(".")[0]
                  and _bare(s.name) != _bare(target.name)]
        options = sorted({target.name: target, **{o.name: o for o in _nearest(others, target)}}.values(),
                         key=lambda a: a.name)
        if len(options) < 3:
            continue
        letters = "ABCD"
        listed = "\n".join(f"- {letters[i]}. `{o.name}`" for i, o in enumerate(options))
        right = next(i for i, o in enumerate(options) if o.name == target.name)
        question = f"{phrase('q_api', outline.french, task=task)}\n\n{listed}"
        answer = f"{letters[right]}. `{target.signature.splitlines()[0].strip()}`"  # ``set`` has two lines
        questions.append((question, answer))
        if len(questions) == count:
            break
    return questions


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower().rstrip("s")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{3,}", text.lower()))


def _nearest(others: list[ApiItem], target: ApiItem) -> list[ApiItem]:
    """Three siblings a learner could mistake for it: of the same owner, their first sentences close to
    its own, but not so close that two options would be right (``str.rsplit`` for ``str.split``)."""
    owner = target.name.rsplit(".", 1)[0]
    words = _words(target.summary.split(". ")[0])

    def closeness(other: ApiItem) -> float:
        theirs = _words(other.summary.split(". ")[0])
        return len(words & theirs) / max(1, len(words | theirs))

    fair = [o for o in others if closeness(o) < 0.6]
    ranked = sorted(fair, key=lambda o: (o.name.rsplit(".", 1)[0] != owner, -closeness(o), fair.index(o)))
    return ranked[: OPTIONS - 1]


def build_quiz(outline: Outline, limits: runner.Limits | None = None) -> list[tuple[str, str]]:
    """Two to four questions when the lesson allows: changed examples to predict, a stated pitfall,
    the right API (a second one when the examples gave too few)."""
    questions = _changed(outline, limits or runner.Limits())
    pitfall = _pitfall(outline) or _right_not_wrong(outline, limits or runner.Limits())
    if pitfall is not None:
        questions.append(pitfall)
    questions += _pick_api(outline, 2 if len(questions) < 2 else 1)
    return questions[:MAX_QUESTIONS]
