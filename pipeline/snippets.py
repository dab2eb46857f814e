"""What the code of an example is: the names it binds and uses, the syntax and API it shows, and
whether its output can differ on a learner's run (hash order, addresses, time).

The examples come from the manual's sections as written: interactive sessions (cut at their blank
lines, so that one statement needing what the page never defines leaves the others be) and scripts.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable

from ._text import Block, is_python_code

__all__ = ("builtin_names", "chunks", "code_features", "names", "reason", "teaches", "varies", "why_varies")

_VARYING_CODE = re.compile(r"\b(?:id|hash|random|time|now|today|uuid\d?|getpid|urandom|perf_counter|monotonic)\s*\(|"
                           r"\bset\(|\bfrozenset\(|\{[^{}:]*\}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_DURATION = re.compile(r"\b\d+\.\d{3,}\s*(?:s|ms|sec|seconds)\b")  # "Ran 3 tests in 0.008s"


def why_varies(code: str, output: str) -> str:
    """Why a fresh run may print otherwise ("" when it prints the same): "address", "time" (or
    randomness), or "order" for a set of strings (their order follows the hash seed, which changes
    from run to run)."""
    if _ADDRESS.search(output):
        return "address"
    # A clock read or a random draw, not a date made of fixed numbers (``timedelta(days=365)`` is the same
    # on every run).
    clock = re.search(r"\b(?:random|timeit|Timer|uuid\d?|getpid|perf_counter|monotonic|process_time|now|today|"
                      r"utcnow|time|localtime|gmtime|ctime|asctime|repeat)\s*\(|\brandom\.\w+|\burandom\b", code)
    if _DURATION.search(output) or (clock and re.search(r"\d", output)):
        return "time"
    if re.search(r"\bid\(", code) and re.search(r"\d{6,}", output):
        return "address"
    if _VARYING_CODE.search(code) and re.search(r"\{[^{}]*['\"][^{}]*\}|frozenset\(", output):
        return "order"
    return ""


def varies(code: str, output: str) -> bool:
    return bool(why_varies(code, output))


def names(code: str) -> tuple[set[str], set[str]]:
    """The names code binds at its top level, and those it reads."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(), set()
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
            bound |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return bound, used


def reason(error: str) -> str:
    """Why a block did not run, for the learner: "it needs `page`, which the section does not define"."""
    missing = re.match(r"NameError: name '(\w+)' is not defined", error)
    if missing and missing.group(1).isupper() and len(missing.group(1)) > 1:
        return "it shows the form of the code, with names to fill in"  # ``EXPRESSION``, ``STATEMENT``
    if missing:
        return f"it needs `{missing.group(1)}`, which the section does not define"
    # The run's own words (an ImportError's module path, a timeout) are the machine's, not the learner's.
    for pattern, said in _REASONS:
        if re.search(pattern, error):
            return said
    return "it is not complete on its own"


_REASONS = (
    (r"^(?:ImportError|ModuleNotFoundError)\b", "it calls code the manual leaves out"),
    (r"^(?:FileNotFoundError|IsADirectoryError|PermissionError)\b", "it needs files of your own"),
    (r"no network here", "it needs the network"),
    (r"^timed out|^stopped:", "it runs longer than an example here may (or waits for input)"),
    (r"^(?:SyntaxError|IndentationError)\b", "it is a fragment, not a whole program"),
)


def chunks(block: Block) -> list[Block]:
    """An interactive session as the groups of statements its blank lines separate: each runs (or does
    not) on its own, and one that needs what the page never defines (``page``) leaves the others be.
    A block that defines a function, then uses it in a session, is the script and then the session."""
    if not block.literal:
        return [block]
    text = block.text
    if block.language != "pycon" and not text.lstrip().startswith(">>>") and "\n>>> " in text:
        script, _, session = text.partition("\n>>> ")
        if is_python_code(script):
            return [Block(script.strip("\n"), "literal", "python"), *chunks(Block(">>> " + session, "literal",
                                                                                   "pycon"))]
    if block.language != "pycon":
        return [block]
    pieces = [piece.strip("\n") for piece in re.split(r"\n\s*\n(?=>>> )", text) if piece.strip()]
    merged: list[str] = []
    for piece in pieces:
        if merged and _only_imports(merged[-1]):
            merged[-1] += "\n" + piece  # ">>> import asyncio" alone is no example: it is the next one's start
        else:
            merged.append(piece)
    return [Block(piece, block.kind, block.language) for piece in merged]


def _only_imports(session: str) -> bool:
    code = "\n".join(line[4:] for line in session.splitlines() if line.startswith((">>> ", "... ")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return bool(tree.body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)


def code_features(code: str) -> set[str]:
    """What code uses, in the words of ``lookup.CONCEPT_CODE``: node types, names, "*" and "**"."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        found.add(type(node).__name__)
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            found |= {"decorator"} if node.decorator_list else set()
            if isinstance(node, ast.ClassDef) and node.bases:
                found.add("inheritance")
        elif isinstance(node, ast.arguments):
            found |= ({"*"} if node.vararg else set()) | ({"**"} if node.kwarg else set())
        elif isinstance(node, ast.Starred):
            found.add("*")
        elif isinstance(node, ast.keyword):
            found.add("**" if node.arg is None else f"{node.arg}=")
        elif isinstance(node, (ast.arg, ast.AnnAssign)) and getattr(node, "annotation", None) is not None:
            found.add("annotation")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found |= {f"module:{a.name.split('.')[0]}" for a in node.names}
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {node.module.split(".")[0], *(a.name for a in node.names)}
    return found


def teaches(code: str, features: set[str]) -> bool:
    """Whether code shows the subject: uses one of its features (any code does when none is known)."""
    return not features or bool(code_features(code) & features)


# Built-ins every lesson uses: "which of these prints?" teaches nothing.
_EVERYWHERE = frozenset({"print", "len", "range", "str", "int", "list", "dict", "type", "repr", "object",
                         "Exception", "True", "False", "None"})


def builtin_names(codes: Iterable[str]) -> list[str]:
    """The built-in functions, types and exceptions code uses (loaded, never bound), in order of first
    use; an interactive session's prompts are read away."""
    found: list[str] = []
    for code in codes:
        text = "\n".join(re.sub(r"^(?:>>>|\.\.\.) ?", "", line) for line in code.splitlines()
                         if not line.strip() or line.startswith((">>>", "...")) or not code.lstrip().startswith(">>>"))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        bound, used = names(text)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Name) and node.id in used and node.id not in bound
                    and node.id not in _EVERYWHERE and hasattr(builtins, node.id) and not node.id.startswith("_")):
                found.append(node.id)
    return list(dict.fromkeys(found))
