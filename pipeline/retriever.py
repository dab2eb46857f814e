"""KnowledgeRetrieverAgent: plans queries from a subject and runs them against the knowledge base."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ._text import key_terms, normalise, singular
from .knowledge import KnowledgeBase, Passage

__all__ = ("KnowledgeRetrieverAgent", "PlannedQuery", "Retrieval", "ScoredDocument", "singular")

# What a Python programmer means by a subject, in the words the documentation
# uses.  Keys are singular; values are searched as phrases.  This is the query
# planner's domain knowledge, not a list of answers: which documents come back
# is still decided by the index.
RELATED_TERMS: dict[str, tuple[str, ...]] = {
    "generator": ("yield", "generator function", "generator iterator", "generator expression"),
    "iterator": ("__next__", "__iter__", "iterable", "itertools"),
    "exception": ("try", "except", "raise", "finally"),
    "error": ("exception", "raise", "except"),
    "context manager": ("with statement", "__enter__", "__exit__", "contextlib"),
    "string formatting": ("format specification", "formatted string literals", "str.format", "format"),
    "formatting": ("format specification", "str.format"),
    "f-string": ("formatted string literals", "format specification"),
    "dictionary": ("dict", "mapping types", "dictionary displays", "key"),
    "dict": ("dictionary", "mapping types"),
    "list": ("mutable sequence", "list comprehension", "sequence types"),
    "tuple": ("immutable sequence", "namedtuple", "sequence types"),
    "set": ("set types", "frozenset"),
    "string": ("str", "string methods", "text sequence"),
    "async": ("await", "coroutine", "asyncio", "event loop"),
    "await": ("async", "coroutine", "asyncio", "awaitable"),
    "coroutine": ("async def", "await", "asyncio"),
    "asyncio": ("coroutine", "event loop", "task"),
    "thread": ("threading", "lock", "concurrent.futures", "thread pool"),
    "threading": ("thread", "lock", "condition", "concurrent.futures"),
    "json": ("json.dumps", "json.loads", "JSONDecoder", "JSONEncoder"),
    "decorator": ("function definition", "functools.wraps", "wrapper"),
    "class": ("class definition", "inheritance", "__init__", "method"),
    "inheritance": ("class definition", "super", "method resolution order"),
    "regular expression": ("re", "pattern", "re.match"),
    "regex": ("regular expression", "re"),
    "file": ("open", "io", "read", "write"),
    "path": ("pathlib", "os.path"),
    "date": ("datetime", "timedelta"),
    "time": ("datetime", "time.time"),
    "test": ("unittest", "doctest", "assert"),
    "unit test": ("unittest", "TestCase", "assert"),
    "type hint": ("typing", "annotation"),
    "annotation": ("typing", "type hint"),
    "lambda": ("lambda expression", "anonymous function"),
    "comprehension": ("list comprehension", "displays", "generator expression"),
    "import": ("import statement", "module", "package", "importlib"),
    "module": ("import statement", "package", "importlib"),
    "process": ("subprocess", "multiprocessing"),
    "subprocess": ("Popen", "subprocess.run"),
    "logging": ("logger", "handler", "log level"),
    "number": ("int", "float", "numeric types"),
    "integer": ("int", "numeric types"),
    "float": ("floating point", "numeric types"),
    "function": ("function definition", "def", "call", "return"),
    "loop": ("for statement", "while statement", "break", "continue"),
    "for loop": ("for statement", "iterable", "break"),
    "variable": ("assignment", "naming and binding", "scope"),
    "scope": ("naming and binding", "global", "nonlocal"),
    "closure": ("nonlocal", "naming and binding", "free variable"),
    "boolean": ("truth value", "bool", "and", "or"),
    "slice": ("slicings", "sequence", "slice"),
    "operator": ("operator precedence", "binary arithmetic", "comparisons"),
    "dataclass": ("dataclasses", "field", "__init__"),
    "enum": ("enum", "Enum", "IntEnum"),
    "socket": ("socket", "connection", "server"),
    "http": ("http.client", "urllib.request", "http.server"),
    "csv": ("csv.reader", "csv.writer", "DictReader"),
    "sqlite": ("sqlite3", "cursor", "connection"),
    "database": ("sqlite3", "dbm", "cursor"),
    "random": ("random", "seed", "choice"),
    "math": ("math", "cmath", "floating point"),
}

_PHRASE_KEYS = sorted((k for k in RELATED_TERMS if " " in k), key=len, reverse=True)

MAX_QUERIES = 9
DOCS_PER_QUERY = 30
MAX_DOCUMENTS = 8
PASSAGES_PER_SEARCH = 60


def fts_phrase(text: str) -> str:
    """``text`` as an FTS5 phrase: quoted, so user input can never be read as query syntax."""
    words = normalise(text)
    return f'"{words}"' if words else ""


@dataclass(frozen=True, slots=True)
class PlannedQuery:
    text: str  # for people
    match: str  # for FTS5
    weight: float


@dataclass(slots=True)
class ScoredDocument:
    id: str
    title: str
    score: float = 0.0
    best_weight: float = 0.0  # the weight of the most specific query it matched
    passages: dict[int, tuple[Passage, float]] = field(default_factory=dict)

    def ranked_passages(self) -> list[tuple[Passage, float]]:
        return sorted(self.passages.values(), key=lambda ps: -ps[1])


@dataclass(slots=True)
class Retrieval:
    subject: str
    terms: list[str]
    queries: list[PlannedQuery]
    documents: list[ScoredDocument]  # best first
    known: bool


def _prior(doc_id: str) -> float:
    """How much to trust a document before reading it.

    The language reference is the canonical explanation of a concept; a
    top-level module is what a programmer imports; a sub-module deep in a
    package (``email.generator``) is rarely what a general subject is about.
    """
    kind, _, name = doc_id.partition(":")
    if kind == "pydoc":
        return 1.15
    if kind == "module":
        return 1.0 / (1.0 + 0.35 * name.count("."))
    return 1.1  # the user's own documents: they added them for a reason


class KnowledgeRetrieverAgent:
    """Turns a subject into several searches and gathers the passages they find."""

    name = "KnowledgeRetrieverAgent"

    def __init__(self, kb: KnowledgeBase, say: Callable[[str], None] = print) -> None:
        self.kb = kb
        self.say = say

    def plan(self, subject: str) -> tuple[list[str], list[PlannedQuery]]:
        terms = key_terms(subject)
        singulars = [singular(t) for t in terms]
        queries: list[PlannedQuery] = []
        seen: set[str] = set()

        def add(text: str, weight: float) -> None:
            match = fts_phrase(text)
            if match and match.lower() not in seen:
                seen.add(match.lower())
                queries.append(PlannedQuery(text, match, weight))

        if terms:
            add(" ".join(terms), 1.0)
        if len(terms) > 1:
            match = " ".join(fts_phrase(t) for t in terms)
            if match.lower() not in seen:
                seen.add(match.lower())
                queries.append(PlannedQuery(" AND ".join(terms), match, 0.9))
        joined = " ".join(singulars)
        related: list[str] = []
        for key in _PHRASE_KEYS:
            if key in joined:
                related.extend(RELATED_TERMS[key])
                joined = joined.replace(key, " ")
        for word in joined.split():
            related.extend(RELATED_TERMS.get(word, ()))
        for text in related:
            add(text, 0.7)
        if len(terms) > 1:
            for term in terms:
                add(term, 0.5)
        return terms, queries[:MAX_QUERIES]



    def retrieve(self, subject: str) -> Retrieval:
        terms, queries = self.plan(subject)
        self.say(f"Subject: {subject!r} → key terms: {', '.join(terms) or '(none)'}")
        if not queries:
            return Retrieval(subject, terms, [], [], known=False)
        # Modules named in the first results become extra queries (pseudo-relevance
        # feedback): a subject often lives in a module whose name it does not say.
        first = self.kb.search_documents(queries[0].match, DOCS_PER_QUERY)
        feedback = self._feedback_terms(first, terms, queries)
        if feedback:
            self.say(f"Related terms found in the first results: {', '.join(feedback)}")
        queries = queries + [PlannedQuery(t, fts_phrase(t), 0.3) for t in feedback]
        self.say(f"Planned {len(queries)} queries.")
        documents: dict[str, ScoredDocument] = {}
        for i, query in enumerate(queries, 1):
            found = first if i == 1 else self.kb.search_documents(query.match, DOCS_PER_QUERY)
            self._score(documents, found, query.weight)
            self.say(f'Query {i}/{len(queries)}: "{query.text}" → {len(found)} documents')
        for doc in documents.values():
            doc.score *= _prior(doc.id)
        ranked = sorted(documents.values(), key=lambda d: -d.score)
        best = ranked[:MAX_DOCUMENTS]
        self._gather_passages(best, queries)
        total = sum(len(d.passages) for d in best)
        self.say(f"Collected {total} passages from the {len(best)} best of {len(ranked)} documents.")
        return Retrieval(subject, terms, queries, ranked, self._is_known(ranked))

    def _gather_passages(self, documents: list[ScoredDocument], queries: list[PlannedQuery]) -> None:
        """Attach to each document its passages that match any query, scored; else its opening."""
        by_id = {d.id: d for d in documents}
        any_query = " OR ".join(q.match for q in queries)
        for hit in self.kb.search(any_query, PASSAGES_PER_SEARCH, doc_ids=list(by_id)):
            doc = by_id[hit.passage.doc_id]
            doc.passages.setdefault(hit.passage.seq, (hit.passage, hit.score))
        for doc in documents:
            if not doc.passages:
                for passage in self.kb.passages(doc.id)[:2]:
                    doc.passages[passage.seq] = (passage, 0.0)

    @staticmethod
    def _score(documents: dict[str, ScoredDocument], found: list[tuple[str, str, float]], weight: float) -> None:
        if not found:
            return
        top = found[0][2] or 1.0
        for doc_id, title, score in found:
            doc = documents.get(doc_id)
            if doc is None:
                doc = documents[doc_id] = ScoredDocument(doc_id, title)
            doc.score += weight * score / top
            doc.best_weight = max(doc.best_weight, weight)

    @staticmethod
    def _feedback_terms(
        found: list[tuple[str, str, float]], terms: list[str], queries: list[PlannedQuery]
    ) -> list[str]:
        asked = {q.text.lower() for q in queries} | set(terms)
        names: list[str] = []
        for doc_id, _, _ in found[:3]:
            kind, _, name = doc_id.partition(":")
            if kind == "module" and "." not in name and name.lower() not in asked and name not in names:
                names.append(name)
        return names[:2]

    @staticmethod
    def _is_known(ranked: list[ScoredDocument]) -> bool:
        """Whether the knowledge base covers the subject as a whole, not just one of its words.

        The first two planned queries are the subject itself and all its key terms
        together (weights 1.0 and 0.9); matching only a related term or a single
        word of a longer subject is not enough.
        """
        return any(d.best_weight >= 0.9 for d in ranked[:MAX_DOCUMENTS])
