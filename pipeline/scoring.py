"""How well a section of the manual teaches a subject, and the facts about sections that decide it.

A section headed with the subject's words, and only them, teaches it ("Lambda Expressions" for
"lambda": kinds of thing in a heading, "expression", "statement", do not count against it); the
index entries that point at it and the names it documents say what it is about; the tutorial and
the HOWTOs are written as lessons and weigh more than the library and the language reference; a
module's page weighs less for a subject that is not that module (its own use of the words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._text import STOPWORDS
from .lookup import INDEXED_AS, words_of
from .sections import ManualSection

__all__ = ("BUILTIN_PAGES", "GENERIC", "INTERNALS", "KIND_PRIOR", "LESSON_ORDER", "Candidate", "about_page",
           "fullest", "runnable", "score", "shown", "teaches")

# How much a page of each kind teaches: the tutorial and HOWTOs are written as lessons.
KIND_PRIOR = {"tutorial": 1.6, "howto": 1.45, "reference": 1.15, "library": 1.0, "faq": 0.9, "glossary": 0.8,
              "file": 1.2}
# The interpreter's internals name every concept (LOAD_CLOSURE, ast.Lambda) but teach none.
INTERNALS = frozenset({"dis", "ast", "symtable", "pickletools", "tokenize", "token", "2to3", "lib2to3", "pyclbr",
                       "winreg", "msilib", "idle", "tkinter.ttk", "unittest.mock-examples"})
LESSON_ORDER = {"tutorial": 0, "howto": 1, "file": 2, "reference": 3, "library": 4}
# Library pages about the built-ins rather than one module.
BUILTIN_PAGES = frozenset({"stdtypes", "functions", "exceptions", "constants", "datatypes"})
# Words of headings that say what kind of thing a section is about, not which: "Lambda Expressions".
GENERIC = frozenset("expression statement function object type introduction basic basics howto more "
                     "overview tutorial".split())


def shown(section: ManualSection) -> int:
    """How many of a section's interactive sessions show what they print (code that runs, and says what)."""
    return sum(b.literal and b.text.lstrip().startswith(">>>") and any(
        line.strip() and not line.startswith((">>>", "...")) for line in b.text.splitlines()) for b in section.blocks)


def about_page(section: ManualSection, wanted: set[str]) -> bool:
    """Whether a page is about the subject: its module is one of the subject's words, or starts with one
    ("contextlib" for context managers, "asyncio-task" for tasks)."""
    parts = re.split(r"[.-]", section.page.split("/")[-1])
    return any(p == w or (len(w) >= 5 and p.startswith(w)) for p in parts for w in wanted)


def fullest(entries: list[ManualSection]) -> list[ManualSection]:
    """The entry of a name that says most (``set`` in Built-in Types, not its stub in Built-in Functions),
    from its start: the text after its methods is a section of the same name too."""
    by_page: dict[str, list[ManualSection]] = {}
    for entry in entries:
        by_page.setdefault(entry.doc_id, []).append(entry)
    ranked = sorted(by_page.values(), key=lambda same: -sum(len(s.blocks) for s in same))
    return [min(same, key=lambda s: s.seq) for same in ranked]


def runnable(section: ManualSection) -> int:
    """How many of a section's code blocks look like Python that runs (a session, or a script)."""
    return sum(b.literal and b.language in ("python", "pycon") for b in section.blocks)


def teaches(section: ManualSection) -> bool:
    return section.page.rsplit("/", 1)[-1] not in INTERNALS and not section.heading.startswith("Source code")


@dataclass(slots=True)
class Candidate:
    section: ManualSection
    score: float = 0.0
    by_term: bool = False  # an index term of the subject's symbols points at it
    module: float = 0.0  # the introduction of a module the subject names: how much that says
    parent: bool = False  # the section a named API entry is in
    text: float = 0.0  # how well its text matches, relative to the best match (bm25)
    asked: float = 0.0  # a question's words in its running text (a lesson's), relative to the best match



def score(candidate: Candidate, wanted: set[str], small: bool) -> float:
    """How well a section teaches the subject: its heading's words, its index terms, its kind of page."""
    section = candidate.section
    if section.api_name or section.kind == "glossary":
        return 0.0  # entries are the syntax, the glossary is "what it is": not what teaches
    heading = words_of(section.heading) - (STOPWORDS - wanted)  # "for" is a word of "for loops"
    own = heading - GENERIC
    around = heading | words_of(" ".join(section.terms)) | words_of(section.title if section.kind == "file" else "")
    # Text counts where headings say little: a few notes of one's own, and the documentation that ships
    # with the interpreter (one section per topic, 'The "yield" statement' for generators).
    by_text = small or not section.doc_id.startswith("manual:")
    if by_text:
        around |= words_of(" ".join(b.text for b in section.blocks))
    cover = len(wanted & around) / max(1, len(wanted))
    tight = len(wanted & own) / max(1, len(own)) if own else 1.0
    # An index entry that is the subject itself ("context manager") points where the manual explains it.
    filed_as = {r for w in wanted for r in INDEXED_AS.get(w, ())}
    entries = [words_of(term.split(";")[0]) for term in section.terms]
    indexed = any(e == wanted or (filed_as and e <= filed_as) for e in entries)
    # A few notes of one's own are about what their text says, whatever their (often file) names.
    fit = cover * cover * (0.5 + 0.5 * tight) if small else cover * (0.2 + 0.8 * tight)
    score = (fit + (1.0 if candidate.by_term else 0.0) + (0.3 if indexed else 0.0)
             + (candidate.module if candidate.module else 0.0) + (0.5 if candidate.parent else 0.0))
    score += 1.5 * candidate.asked  # a question is answered where the lessons' text says its words
    if by_text:
        score += candidate.text
        if section.kind == "library":  # a sub-module (email.generator) is rarely what a subject means
            score /= 1.0 + 0.35 * section.doc_id.count(".")
    score *= KIND_PRIOR.get(section.kind, 1.0)
    page = section.page.split("/")[-1]
    if section.kind == "library" and not wanted <= heading and page not in BUILTIN_PAGES and not (
            about_page(section, wanted)):
        score *= 0.6  # a module's page, for a subject that is not that module: its own use of the words
    if any(b.literal for b in section.blocks):
        score *= 1.2  # a section with code shows what it says
    return score
