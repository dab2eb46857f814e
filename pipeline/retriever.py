"""KnowledgeRetrieverAgent: reads the subject, judges whether the knowledge base covers it, and
gathers the passages that explain it.

Passages, not pages, are what is searched: a page of the manual (``library/stdtypes``)
holds hundreds of unrelated entries, so a page's score would say little.  Each
concept of a subject is searched on its own, so that "closures and nonlocal" is
covered even though no passage names both, and a concept that nothing covers is
reported as missing instead of being papered over.  Explanations are preferred
to one-line entries: the tutorial and the HOWTOs, a module's introduction, and
passages with code weigh more than a bare "Return a task object.".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ._subject import Subject, read_subject
from ._text import normalise, singular
from .knowledge import Hit, KnowledgeBase, Passage, plural

__all__ = ("KnowledgeRetrieverAgent", "PlannedQuery", "Retrieval", "ScoredDocument", "nearby_subjects", "singular")

# What a Python programmer means by a subject, in the words the documentation
# uses.  Keys are singular; values are searched as phrases.  This is the query
# planner's domain knowledge, not a list of answers: which passages come back
# is still decided by the index.
RELATED_TERMS: dict[str, tuple[str, ...]] = {
    "generator": ("yield", "generator function", "generator iterator", "generator expression"),
    "iterator": ("__next__", "__iter__", "iterable", "itertools"),
    "exception": ("try", "except", "raise", "finally"),
    "error": ("exception", "raise", "except"),
    "with statement": ("with", "context manager", "__enter__", "contextlib"),
    "try statement": ("try", "except", "finally", "exception"),
    "context manager": ("with statement", "contextmanager", "__enter__", "__exit__", "contextlib"),
    "string formatting": ("format specification", "formatted string literals", "str.format", "format"),
    "formatting": ("format specification", "str.format"),
    "f-string": ("formatted string literals", "f-strings", "format specification"),
    "sorting": ("sorted", "key function", "sorting how to", "list.sort"),
    "sort": ("sorted", "key function", "sorting how to", "list.sort"),
    "key function": ("sorted", "key function", "functools.cmp_to_key"),
    "descriptor": ("descriptor guide", "__get__", "__set_name__"),
    "nonlocal": ("nonlocal statement", "enclosing scope"),
    "comprehension": ("list comprehensions", "comprehensions"),
    "list comprehension": ("list comprehensions", "displays for lists"),
    "logging": ("logging howto", "getLogger", "logger"),
    "pathlib": ("pure paths", "concrete paths", "path"),
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
    "regular expression": ("regular expression howto", "re.compile", "re.match", "re.search"),
    "regex": ("regular expression", "re"),
    # Not "read" and "write": every "Read and write Sun AU files" module's title has them.
    "file": ("reading and writing files", "file object", "open", "io"),
    "reading": ("reading and writing files", "file object"),
    "read": ("reading and writing files", "file object"),
    "open": ("reading and writing files", "file object"),
    "path": ("pathlib", "os.path"),
    "date": ("datetime", "timedelta"),
    "time": ("datetime", "time.time"),
    "test": ("unittest", "doctest", "assert"),
    "unit test": ("unittest", "TestCase", "assert"),
    "type hint": ("typing", "annotation"),
    "annotation": ("typing", "type hint"),
    "lambda": ("lambda expression", "anonymous function"),
    "import": ("import statement", "module", "package", "importlib"),
    "module": ("import statement", "package", "importlib"),
    "process": ("subprocess", "multiprocessing"),
    "subprocess": ("Popen", "subprocess.run"),
    "number": ("int", "float", "numeric types"),
    "integer": ("int", "numeric types"),
    "float": ("floating point", "numeric types"),
    "function": ("function definition", "def", "call", "return"),
    "loop": ("for statement", "while statement", "break", "continue"),
    "for loop": ("for statement", "iterable", "break"),
    "variable": ("assignment", "naming and binding", "scope"),
    "scope": ("naming and binding", "global", "nonlocal"),
    "closure": ("nonlocal", "free variable", "nested function", "enclosing function"),
    "boolean": ("truth value", "bool", "and", "or"),
    "slice": ("slicings", "sequence", "slice"),
    "operator": ("operator precedence", "binary arithmetic", "comparisons"),
    "assignment expression": ("named expression", "walrus", "namedexpr"),
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

_PHRASE_KEYS = sorted((k for k in RELATED_TERMS if " " in k or "-" in k), key=len, reverse=True)

PASSAGES_PER_QUERY = 40
MAX_DOCUMENTS = 4
MIN_RELATIVE_SCORE = 0.5  # a document scoring under this share of the best one is off-topic
MAX_QUERIES = 14
# A section headed with the concept itself ("Generators" in the tutorial and the functional HOWTO)
# is where it is taught: it weighs more than a passage that only uses the word.
HEADING_WEIGHT = 2.5
HEADING_HITS = 400
_TEACHING_PAGES = ("manual:tutorial/", "manual:howto/", "manual:reference/")


MAX_NEARBY = 4
# What a declined request that touches nothing the knowledge base explains is offered instead.
SUGGESTED_SUBJECTS = ("generators", "decorators", "context managers", "f-strings")
_MODULE_TITLE = re.compile(r"^`([\w.]+)` — ")


def nearby_subjects(titles: list[str], limit: int = MAX_NEARBY) -> list[str]:
    """Titles a declined request can offer as subjects to ask for instead: a module's page as the
    module's name ("`decimal` — Decimal fixed point …" → "decimal"), any other as its plain title."""
    subjects: dict[str, None] = {}
    for title in titles:
        module = _MODULE_TITLE.match(title)
        plain = module.group(1) if module else " ".join(title.replace("`", "").split())
        if plain:
            subjects.setdefault(plain, None)
    return list(subjects)[:limit]


def fts_phrase(text: str) -> str:
    """``text`` as an FTS5 phrase: quoted, so user input can never be read as query syntax."""
    words = normalise(text)
    return f'"{words}"' if words else ""


@dataclass(frozen=True, slots=True)
class PlannedQuery:
    text: str  # for people
    match: str  # for FTS5
    weight: float
    concept: str = ""  # the concept of the subject it serves ("" for the whole subject)
    # Keep only the hits whose heading is exactly this (normalised): the section a page names after
    # the concept ("Generators" in the tutorial's Classes), not every heading holding the word.
    heading: str = ""


@dataclass(slots=True)
class ScoredDocument:
    id: str
    title: str
    score: float = 0.0
    concepts: set[str] = field(default_factory=set)
    passages: dict[int, tuple[Passage, float]] = field(default_factory=dict)

    def ranked_passages(self) -> list[tuple[Passage, float]]:
        return sorted(self.passages.values(), key=lambda ps: -ps[1])


@dataclass(slots=True)
class Retrieval:
    subject: str
    terms: list[str]
    queries: list[PlannedQuery]
    documents: list[ScoredDocument]  # the chosen ones, best first
    known: bool
    kind: str = "subject"  # "subject" | "small_talk" | "follow_up"
    covered: list[str] = field(default_factory=list)  # concepts the knowledge base explains
    missing: list[str] = field(default_factory=list)  # concepts it does not
    nearby: list[str] = field(default_factory=list)  # titles that touch the subject, for a refusal


# The interpreter's internals: they name every concept (LOAD_CLOSURE, FunctionDef.decorator_list)
# but explain none to a learner.
INTERNALS = frozenset({"dis", "ast", "symtable", "pickletools", "tokenize", "token", "2to3", "lib2to3"})


def _document_prior(doc_id: str) -> float:
    """How much to trust a document before reading it: explanations over reference entries."""
    kind, _, name = doc_id.partition(":")
    if kind == "manual":
        part, _, page = name.partition("/")
        if page in INTERNALS:
            return 0.5
        if part == "library":  # a sub-module (email.generator) is rarely what a general subject means
            return 1.0 / (1.0 + 0.35 * page.count("."))
        return {"tutorial": 1.5, "howto": 1.4, "glossary": 1.3, "reference": 1.1}.get(part, 1.0)
    if kind == "pydoc":
        return 1.15
    if kind == "module":
        return 1.0 / (1.0 + 0.35 * name.count("."))
    return 1.1  # the user's own documents: they added them for a reason


def _passage_prior(passage: Passage, concept: str) -> float:
    prior = _document_prior(passage.doc_id)
    named = passage.heading.split("(")[0]  # an entry's name, not its parameters ("decorator_list")
    if concept and set(normalise(concept).split()) <= set(normalise(named).split()):
        prior *= 1.5  # a section named after the concept is where it is explained
    is_entry = passage.body.startswith("```signature")
    if is_entry and len(passage.body) - passage.body.find("```", 3) < 200:
        prior *= 0.55  # a one-line entry names things but explains little
    if "```python" in passage.body or "```pycon" in passage.body:
        prior *= 1.2
    if passage.doc_id.startswith("manual:library/") and passage.seq <= 2 and not is_entry:
        prior *= 1.2  # a module's introduction
    return prior


def concepts_of(subject: Subject) -> list[str]:
    """The concepts of a subject: known multi-word phrases first ("context manager"), then single terms."""
    words = list(subject.terms)
    joined = " " + " ".join(words) + " "
    concepts: list[str] = []
    for key in _PHRASE_KEYS:
        if f" {key} " in joined:
            concepts.append(key)
            joined = joined.replace(f" {key} ", " ")
    concepts += [w for w in joined.split() if w]
    order = {c: joined.find(c) for c in concepts}
    return sorted(dict.fromkeys(concepts), key=lambda c: order.get(c, 0))


class KnowledgeRetrieverAgent:
    """Turns a subject into searches, judges coverage, and gathers the passages found."""

    name = "KnowledgeRetrieverAgent"

    def __init__(self, kb: KnowledgeBase, say: Callable[[str], None] = print) -> None:
        self.kb = kb
        self.say = say
        self._size: int | None = None

    def plan(self, subject: Subject, concepts: list[str]) -> list[PlannedQuery]:
        queries: list[PlannedQuery] = []
        seen: set[str] = set()

        def add(text: str, weight: float, concept: str, match: str = "") -> None:
            match = match or fts_phrase(text)
            if match and match.lower() not in seen:
                seen.add(match.lower())
                queries.append(PlannedQuery(text, match, weight, concept))

        if len(subject.terms) > 1:
            # The subject's words close together, not only as one phrase: "reading files" is the
            # tutorial's "Reading and Writing Files".
            words = [fts_phrase(t) for t in subject.terms]
            add(" ".join(subject.terms), 1.0, "", f"NEAR({' '.join(w for w in words if w)}, 3)")
        for concept in concepts:
            add(concept, 1.0, concept)
        for concept in concepts:
            phrase = fts_phrase(concept)
            if phrase and normalise(concept):
                queries.append(PlannedQuery(f"{concept} (as a heading)", "{heading} : " + phrase, HEADING_WEIGHT,
                                            concept, heading=normalise(concept)))
        whole = {singular(w) for c in concepts for w in c.split()}
        for concept in concepts:
            for related in RELATED_TERMS.get(concept, ())[:4]:
                # A fuller name of the whole subject ("reading and writing files" for "files", "generator
                # function" for "generator") weighs as much as the subject's own words.
                names_all = whole <= set(normalise(related).split())
                add(related, 1.0 if names_all else 0.6, concept)
        return queries[:MAX_QUERIES]

    def _coverage(self, concept: str) -> int:
        """How well the knowledge base explains a concept: 2 named in several titles or headings, or
        named in one and discussed often; 1 named somewhere (``same_quantum`` names "quantum"); 0 not at all."""
        phrase = fts_phrase(concept)
        names = [phrase] + [fts_phrase(r) for r in RELATED_TERMS.get(concept, ())[:2]]
        strong = sum(self.kb.count("{title keywords heading} : " + p, cap=5) for p in names if p)
        # "Several" and "often" grow with the knowledge base: a handful of one's own notes is
        # small, the manual's twelve thousand passages are not.
        size = self._size if self._size is not None else self.kb.size()
        self._size = size
        several, often = min(3, 1 + size // 2000), min(8, 1 + size // 1000)
        # In a large, structured corpus (the manual), "discussed often" counts only for a concept
        # some title or heading names too: words that merely recur in examples ("banana" in the
        # tutorial's lists) are not what its pages explain. A few notes of one's own have no such
        # structure to go by.
        named = strong > 0 or size < 2000
        # Discussed under its name or the names it goes by ("walrus" for an assignment expression).
        discussed = " OR ".join(dict.fromkeys(p for p in names if p))
        if strong >= several or (named and self.kb.count(discussed, cap=often) >= often):
            return 2
        return 1 if strong else 0

    def retrieve(self, text: str) -> Retrieval:
        subject = read_subject(text)
        if subject.kind != "subject":
            what = "small talk" if subject.kind == "small_talk" else "a follow-up to an earlier answer"
            self.say(f"{text!r} reads as {what}, not as a subject: no search.")
            return Retrieval(text, list(subject.terms), [], [], False, subject.kind)
        concepts = concepts_of(subject)
        shown = ", ".join(concepts)
        self.say(f"Subject: {text!r} → concepts: {shown}" + (" (read as French)" if subject.french else ""))
        coverage = {c: self._coverage(c) for c in concepts}
        covered = [c for c in concepts if coverage[c]]
        missing = [c for c in concepts if not coverage[c]]
        self.say(
            f"The knowledge base covers {plural(len(covered), 'concept')} of {len(concepts)}"
            + (f"; nothing explains: {', '.join(missing)}" if missing else "") + "."
        )
        queries = self.plan(subject, covered or concepts)
        self.say(f"Planned {plural(len(queries), 'query', 'queries')}.")
        documents: dict[str, ScoredDocument] = {}
        tops: dict[str, float] = {}
        for i, query in enumerate(queries, 1):
            hits = self._search(query)
            top = tops[query.match] = hits[0].score if hits and hits[0].score > 0 else 1.0
            for hit in hits:
                doc = documents.get(hit.passage.doc_id)
                if doc is None:
                    doc = documents[hit.passage.doc_id] = ScoredDocument(hit.passage.doc_id, hit.passage.title)
                score = query.weight * hit.score / top * _passage_prior(hit.passage, query.concept)
                previous = doc.passages.get(hit.passage.seq, (hit.passage, 0.0))[1]
                doc.passages[hit.passage.seq] = (hit.passage, previous + score)
                if query.concept:
                    doc.concepts.add(query.concept)
                else:
                    doc.concepts.update(covered)
            n_docs = len({h.passage.doc_id for h in hits})
            self.say(f'Query {i}/{len(queries)}: "{query.text}" → {plural(len(hits), "passage")} '
                     f"in {plural(n_docs, 'document')}")
        for doc in documents.values():
            scores = sorted((s for _, s in doc.passages.values()), reverse=True)
            doc.score = scores[0] + 0.25 * sum(scores[1:4]) if scores else 0.0
        ranked = sorted(documents.values(), key=lambda d: -d.score)
        nearby = [d.title for d in ranked[:5]]
        # The whole subject, each concept at least named and one well explained; or, for a subject
        # that combines concepts, at least half of them well explained (the rest is said missing).
        well = [c for c in concepts if coverage[c] == 2]
        enough = (not missing and bool(well)) or (len(concepts) > 1 and len(well) * 2 >= len(concepts))
        known = bool(ranked) and enough
        if not known:
            if len(well) * 2 < len(concepts):
                # Most of what it asks for is explained nowhere: the documents that merely share a word
                # ("Unicode HOWTO" for tomatoes' "tips") are no nearby subject; good subjects to start with are.
                nearby = list(SUGGESTED_SUBJECTS)
            return Retrieval(text, list(subject.terms), queries, [], False, "subject", covered, missing, nearby)
        chosen = self._choose(ranked, covered)
        self._fill_in(chosen, queries, tops)
        total = sum(len(d.passages) for d in chosen)
        self.say(f"Kept {plural(total, 'passage')} from the {plural(len(chosen), 'best document')} "
                 f"of {len(ranked)}: {', '.join(d.id for d in chosen)}")
        return Retrieval(text, list(subject.terms), queries, chosen, True, "subject", covered, missing, nearby)

    def _search(self, query: PlannedQuery, doc_ids: list[str] | None = None) -> list[Hit]:
        """The passages ``query`` matches (in ``doc_ids`` only, when given), best first."""
        if not query.heading:
            return self.kb.search(query.match, PASSAGES_PER_QUERY, doc_ids=doc_ids)
        # Many headings hold the word (email.generator): look further, keep the exact ones; and
        # only where the manual teaches (the tutorial, the HOWTOs, the language reference): every
        # concept is a heading in the glossary, and module pages have generic ones ("Exceptions").
        hits = self.kb.search(query.match, HEADING_HITS, doc_ids=doc_ids)
        return [h for h in hits if normalise(h.passage.heading) == query.heading
                and h.passage.doc_id.startswith(_TEACHING_PAGES)][:PASSAGES_PER_QUERY]

    def _fill_in(self, chosen: list[ScoredDocument], queries: list[PlannedQuery], tops: dict[str, float]) -> None:
        """The chosen documents' passages that the queries match beyond the first ``PASSAGES_PER_QUERY``
        of the whole knowledge base: a long page (contextlib) has more on the subject than the first
        hits show, often its examples.  Scored as the first pass would have; documents keep their rank."""
        by_id = {d.id: d for d in chosen}
        for query in queries:
            for hit in self._search(query, list(by_id)):
                doc = by_id[hit.passage.doc_id]
                if hit.passage.seq in doc.passages:
                    continue
                score = query.weight * hit.score / tops[query.match] * _passage_prior(hit.passage, query.concept)
                doc.passages[hit.passage.seq] = (hit.passage, score)

    @staticmethod
    def _choose(ranked: list[ScoredDocument], covered: list[str]) -> list[ScoredDocument]:
        """The best documents, and for each concept at least one that explains it."""
        top = ranked[0].score
        chosen = [d for d in ranked[:MAX_DOCUMENTS] if d.score >= MIN_RELATIVE_SCORE * top]
        for concept in covered:
            if not any(concept in d.concepts for d in chosen):
                best = next((d for d in ranked if concept in d.concepts), None)
                if best is not None:
                    chosen.append(best)
        return chosen
