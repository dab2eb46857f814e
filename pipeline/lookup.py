"""What a subject names, read the way the manual's readers look things up: symbols, API names,
module names, and words for its headings, index and glossary.

``*args`` is the index entry ``* (asterisk); in function calls``; ``split, join, strip`` are
``str.split``, ``str.join`` and ``str.strip`` (the owner that has all three); ``collections.Counter``
is that entry; ``itertools`` is that module's page; "how do I make my code faster?" asks about
performance.  The tables here are the manual's vocabulary, not answers: which sections come back
is decided by the section index.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from ._subject import Subject
from ._text import normalise, singular

__all__ = ("CONCEPT_CODE", "Named", "read_names")

# A symbol in a subject → (index-term patterns, words it stands for, code features that show it).
# Index-term patterns are SQL LIKE patterns on one index entry of a section.
SYMBOLS: tuple[tuple[re.Pattern[str], tuple[str, ...], str, str], ...] = (
    (re.compile(r"(?<![*\w])\*\w+|\bargs\b"), ("* (asterisk); in function calls",), "arbitrary argument", "*"),
    (re.compile(r"\*\*\w+|\bkwargs\b"), ("**; in function calls",), "keyword argument", "**"),
    (re.compile(r"@property\b"), (), "property", "property"),
    (re.compile(r"(?<!\w)@\w+"), (), "decorator", "decorator"),
    (re.compile(r"\bf(['\"]|-?strings?\b)"), (), "formatted string literal",
     "JoinedStr"),
    (re.compile(r":="), ("assignment expression",), "assignment expression", "NamedExpr"),
)

# What code that shows a concept uses: an AST node's name, "*" / "**" for unpacking, a name
# called or defined, "module:x" for a module used.  An example of sorting without ``key=`` or of
# the walrus without ``:=`` teaches something else.
CONCEPT_CODE: dict[str, frozenset[str]] = {
    concept: frozenset(features.split())
    for concept, features in {
        "context manager": "With AsyncWith contextmanager __enter__ __exit__", "with": "With AsyncWith",
        "with statement": "With AsyncWith", "sorting": "key= sorted sort", "sort": "key= sorted sort",
        "key function": "key=", "list comprehension": "ListComp", "comprehension": "ListComp SetComp DictComp",
        "generator": "Yield YieldFrom GeneratorExp", "generator expression": "GeneratorExp",
        "iterator": "__iter__ __next__ iter next", "assignment expression": "NamedExpr",
        "decorator": "decorator", "exception": "Try Raise", "error": "Try Raise", "f-string": "JoinedStr",
        "formatted string literal": "JoinedStr", "lambda": "Lambda", "closure": "Nonlocal nested",
        "nonlocal": "Nonlocal", "class": "ClassDef", "inheritance": "ClassDef super", "property": "property",
        "descriptor": "__get__ __set__ __set_name__", "async": "AsyncFunctionDef Await",
        "coroutine": "AsyncFunctionDef Await", "dictionary": "Dict DictComp dict", "set": "Set SetComp set",
        "list": "List ListComp list", "tuple": "Tuple tuple", "match": "Match", "match statement": "Match",
        "file": "open", "dataclass": "dataclass", "arbitrary argument": "*", "keyword argument": "** key=",
        "type hint": "annotation", "annotation": "annotation", "slicing": "Slice", "string": "str Constant",
    }.items()
}

# The keywords and names the manual's index files a concept under ("generator": the ``yield``
# statement's entry).  Searched in index terms only: they find sections, never cover a subject.
INDEXED_AS: dict[str, tuple[str, ...]] = {
    "generator": ("yield",), "loop": ("for", "while"), "formatting": ("format",), "exception": ("try", "raise"),
    "error": ("try", "raise"), "dictionary": ("dict",), "iterator": ("iter",), "function": ("def",),
    "module": ("import",), "conditional": ("if",),
}

# Words of a question that name no part of Python ("how do I make my code faster?"), and the
# manual's words for what a learner asks in their own.
_FILLERS = frozenset("code program programs script scripts thing things something get python make".split())
_ASKED = {"faster": "performance", "fast": "performance", "speed": "performance", "slow": "performance",
          "slower": "performance", "quicker": "performance"}
_QUESTION = re.compile(r"^\s*(how|what|why|when|which|where|can|should|is|are|do|does)\b", re.I)
# Method owners a bare method name most likely means, in this order: the built-in types first.
_OWNERS = ("str", "list", "dict", "set", "tuple", "int", "float", "bytes", "object")
_ENGLISH_MODULES = frozenset("code string time random math copy types select signal socket array queue "
                              "calendar locale numbers operator secrets statistics token trace warnings".split())
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)(\(\))?")


@dataclass(slots=True)
class Named:
    """What a subject names: its words, symbols, API names and modules."""

    words: list[str]  # the subject's key terms, as the index normalises them
    question: bool = False
    term_patterns: list[str] = field(default_factory=list)  # index-term LIKE patterns
    concepts: list[str] = field(default_factory=list)  # concepts its symbols stand for
    features: set[str] = field(default_factory=set)  # what its code must show
    api_words: list[str] = field(default_factory=list)  # names that may be API ("split", "collections.Counter")
    code_like: bool = False  # the subject is written as code (``lru_cache``, ``@property``, ``str.split()``)
    modules: list[str] = field(default_factory=list)  # standard-library modules it names
    symbol_words: set[str] = field(default_factory=set)  # words its symbols are made of ("arg" of ``*args``)


def _api_words(raw: str, subject: Subject) -> list[str]:
    """Names in the subject that may be API names: any dotted or underscored name, a name in a list
    (``split, join, strip``) or in parentheses, and the whole subject when it is one word."""
    listed = re.search(r"\(([^)]*)\)|\b\w+(?:\s*,\s*\w+)+", raw)
    names: list[str] = []
    for match in _IDENTIFIER.finditer(raw):
        name = match.group(1)
        inside = listed is not None and listed.start() <= match.start() < listed.end()
        if "." in name or "_" in name.strip("_") or match.group(2) or inside or raw.strip().lstrip("@") == name:
            names.append(name)
    if len(subject.terms) == 1 and not names:
        names.append(subject.terms[0])
    return list(dict.fromkeys(names))


def read_names(raw: str, subject: Subject) -> Named:
    """What ``raw`` (the subject as typed, read as ``subject``) names."""
    question = bool(_QUESTION.match(raw)) or raw.rstrip().endswith("?")
    words = [_ASKED.get(w, w) for w in subject.terms if not (question and w in _FILLERS)]
    split = [part for w in words for part in normalise(w).split() if len(part) > 1]
    named = Named(words=list(dict.fromkeys(split)), question=question)
    for pattern, terms, concept, feature in SYMBOLS:
        if match := pattern.search(raw):
            named.symbol_words |= set(normalise(match.group(0)).split())
            named.term_patterns += terms
            named.concepts.append(concept)
            named.features.add(feature)
            if concept == "property" or concept == "decorator":
                break  # "@property" is the property, not decorators in general
    for word in words:
        named.features |= CONCEPT_CODE.get(word, frozenset())
    phrase = " ".join(words)
    for concept, features in CONCEPT_CODE.items():
        if " " in concept and concept in phrase:
            named.features |= features
    named.api_words = _api_words(raw, subject) if not question else []
    named.code_like = bool(re.search(r"[_.@()]|\w,\s*\w", raw)) and not question
    for token in re.findall(r"[A-Za-z_][\w.]*", raw):
        top = token.split(".")[0].lower()
        # "code", "string", "time" are words first: a module only when they are the whole subject.
        english = top in _ENGLISH_MODULES and "." not in token and len(subject.terms) > 1 and not re.search(
            rf"\b{re.escape(token)}\s+(?:module|library|package)\b", raw, re.I)  # "the math module" is math
        if top in sys.stdlib_module_names and not top.startswith("_") and not english and top not in _FILLERS:
            named.modules.append(top)
    named.modules = list(dict.fromkeys(named.modules))
    if named.modules and re.search(r"\b(?:module|library|package)s?\b", raw, re.I):
        # "the math module", "the json library": the word says what the name is, the name is the subject.
        named.words = [w for w in named.words if w not in ("module", "library", "package")] or named.words
        terms_left = [t for t in subject.terms if t not in ("module", "library", "package")]
    else:
        terms_left = list(subject.terms)
    if len(named.modules) == 1 and len(terms_left) == 1:
        named.features |= {named.modules[0], f"module:{named.modules[0]}"}  # "itertools": code that uses it
    return named


def owner_of(names: list[str], entries: dict[str, list[str]]) -> str:
    """The owner most of ``names`` belong to (``str`` for split, join, strip), built-in types first.

    ``entries`` maps each name to the qualified names of its API entries."""
    counts: dict[str, int] = {}
    for qualified in entries.values():
        for owner in {q.rsplit(".", 1)[0] for q in qualified if "." in q}:
            counts[owner] = counts.get(owner, 0) + 1
    if not counts:
        return ""
    best = max(counts.values())
    tied = [o for o, n in counts.items() if n == best]
    ranked = sorted(tied, key=lambda o: (_OWNERS.index(o) if o in _OWNERS else len(_OWNERS), o.count("."), o))
    if best == 1 and (len(names) > 1 or ranked[0] not in _OWNERS):
        return ""  # one name alone is a built-in type's method, or nobody's in particular
    return ranked[0]


def stem(word: str) -> str:
    """A word without its verb ending, so that "formatting" meets "format" and "sorting" "sort"."""
    for ending in ("ting", "ing", "ed", "e"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


def words_of(text: str) -> set[str]:
    """A heading's or term's words, as the index sees them, verb endings aside."""
    return {stem(singular(w)) for w in normalise(text).split()}
