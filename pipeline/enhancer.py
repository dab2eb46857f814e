"""ContentEnhancerAgent: turns the retrieved passages into a lesson plan in teaching order.

What it is (definitions and explanations that name the subject), the syntax and
API (entries with their qualified names and signatures, grammar), examples (run
first: only those that ran are kept, with their real output), pitfalls (notes
and warnings), and key points for the summary.  Only on-topic material is kept:
a paragraph must speak of one of the subject's concepts.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from . import examples as runner
from ._subject import fold
from ._text import Block, normalise, self_contained, sentences, singular, stands_alone
from .knowledge import Passage, plural
from .retriever import INTERNALS, RELATED_TERMS, Retrieval, ScoredDocument

__all__ = ("ApiItem", "ContentEnhancerAgent", "CourseExample", "Outline", "OutlineSection", "parse_body")

PASSAGES_PER_DOCUMENT = 5
# Passages taken beyond those for their prose because their code teaches the subject: a page's
# best explanations are seldom where its examples that print something are.
EXAMPLE_PASSAGES_PER_DOCUMENT = 3
MAX_EXAMPLES_PER_HEADING = 2
NAMED_ENTRIES_PER_DOCUMENT = 2
MAX_EXPLANATIONS = 6
MAX_API = 6
# API entries come from the sources that are about the subject: a page that only matched some of
# its words ("files" in the Sun AU page, for "reading files") has entries, but not the subject's.
API_RELATIVE_SCORE = 0.75
MAX_EXAMPLES = 4
MAX_EXAMPLE_ATTEMPTS = 10
MIN_WALL_SECONDS = 0.5  # the least time an example gets, however little is left
EXAMPLES_SECONDS = 4.0  # running examples stops once they took this long (a course takes a few seconds)
MAX_NAME_FIXES = 2  # runs again for a missing name: one for a definition, one for an import
MAX_PITFALLS = 4
DUPLICATE_OVERLAP = 0.8

_FENCE = re.compile(r"^```([\w-]*)\n(.*?)\n```$", re.S)
_NOTE = re.compile(r"^\*\*(Note|Warning|Important|Caution|Attention|Danger|Deprecated[^*]*)[:.]\*\*\s*")
# What warns a learner ("… cannot be a subclass of …").  Not a bare "raises" or "cannot": "Raises the
# specified exception in the coroutine." describes an API, "… cannot …" on WebAssembly a platform.
_PITFALL = re.compile(r"\b(must not|never|cannot be|can't|do not|don't|avoid|beware|careful|surprising|mistake|"
                      r"pitfall|gotcha|only once|not thread-safe|unexpected(?:ly)?|by mistake)\b", re.I)


_MISSING_NAME = re.compile(r"^NameError: name '(\w+)' is not defined")


@dataclass(frozen=True, slots=True)
class _Snippet:
    """A block of Python from a passage the course read: an example to run, or what one needs."""

    example: runner.Example
    doc_id: str
    heading: str
    position: tuple[int, int]  # (passage seq, block number): the document's reading order
    defines: frozenset[str]  # the names its top-level statements bind
    uses: frozenset[str]  # the names it reads
    teaches: int = 0  # how much of the subject's syntax and API it uses (``_teaching``)


@dataclass(slots=True)
class _Snippets:
    candidates: list[_Snippet] = field(default_factory=list)  # on the subject: examples to show
    context: list[_Snippet] = field(default_factory=list)  # every one: what an example may build on


def _trees(example: runner.Example) -> list[ast.Module]:
    """Each statement of an example as parsed (one that does not parse is left out)."""
    trees = []
    for source, _ in example.statements:
        try:
            trees.append(ast.parse(source))
        except SyntaxError:
            continue
    return trees


def _used_names(example: runner.Example) -> frozenset[str]:
    return frozenset(n.id for tree in _trees(example) for n in ast.walk(tree)
                     if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))


def _bound_names(example: runner.Example) -> frozenset[str]:
    """Names a snippet's top-level statements bind (functions, classes, variables, imports)."""
    names: set[str] = set()
    for tree in _trees(example):
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return frozenset(names)


# What code that teaches a concept uses: its syntax (an AST node's name, "key=" for a keyword
# argument) or its API (a name, an attribute, a method defined, "module:x" for a module imported or
# used).  An example of sorting without ``key=`` or of the walrus without ``:=`` teaches something else.
CONCEPT_CODE: dict[str, frozenset[str]] = {
    concept: frozenset(features.split())
    for concept, features in {
        "context manager": "With AsyncWith contextmanager asynccontextmanager ContextDecorator __enter__ __exit__ "
                           "module:contextlib",
        "with statement": "With AsyncWith __enter__ __exit__ contextmanager",
        "sorting": "key= sorted sort itemgetter attrgetter cmp_to_key", "sort": "key= sorted sort itemgetter",
        "key function": "key= itemgetter attrgetter cmp_to_key",
        "list comprehension": "ListComp", "comprehension": "ListComp SetComp DictComp GeneratorExp",
        "generator": "Yield YieldFrom GeneratorExp", "iterator": "__iter__ __next__ iter next module:itertools",
        "assignment expression": "NamedExpr", "decorator": "decorator wraps module:functools",
        "exception": "Try TryStar Raise", "error": "Try TryStar Raise", "try statement": "Try TryStar",
        "f-string": "JoinedStr", "string formatting": "JoinedStr format", "formatting": "JoinedStr format",
        "lambda": "Lambda", "closure": "Nonlocal nested", "nonlocal": "Nonlocal",
        "scope": "Nonlocal Global", "class": "ClassDef", "inheritance": "ClassDef super",
        "descriptor": "__get__ __set__ __set_name__ __delete__ property",
        "property": "property", "async": "AsyncFunctionDef Await", "await": "Await",
        "coroutine": "AsyncFunctionDef Await", "dictionary": "Dict DictComp dict items",
        "dict": "Dict DictComp dict items", "dataclass": "dataclass field module:dataclasses",
        "match statement": "Match", "match": "Match", "file": "open read write readline",
        "regular expression": "module:re", "regex": "module:re", "thread": "module:threading Thread",
        "slice": "Slice",
    }.items()
}


def _code_features(example: runner.Example) -> frozenset[str]:
    """What an example's code uses, as ``CONCEPT_CODE`` names it."""
    features: set[str] = set()
    for tree in _trees(example):
        for node in ast.walk(tree):
            features.add(type(node).__name__)
            if isinstance(node, ast.Name):
                features.add(node.id)
            elif isinstance(node, ast.Attribute):
                features.add(node.attr)
                if isinstance(node.value, ast.Name):
                    features.add("module:" + node.value.id)
            elif isinstance(node, ast.keyword) and node.arg:
                features.add(node.arg + "=")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                features.add(node.name)
                if node.decorator_list:
                    features.add("decorator")
                inner = (n for n in ast.walk(node) if n is not node)
                if any(isinstance(n, (ast.FunctionDef, ast.Lambda)) for n in inner):
                    features.add("nested")
            elif isinstance(node, ast.Import):
                features.update("module:" + alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                features.add("module:" + node.module)
                features.update(alias.name for alias in node.names)
    return frozenset(features)


def _teaching(features: frozenset[str], concepts: list[str]) -> int:
    """How many of its concepts' syntax and API names an example uses (0: it teaches something else).

    A concept without an entry in ``CONCEPT_CODE`` is a module (``pathlib``, ``itertools``) or a name
    (``collections.Counter``): the example imports or uses it."""
    score = 0
    for concept in concepts:
        wanted = CONCEPT_CODE.get(concept)
        if wanted is None:
            names = {part for part in re.split(r"[^\w.]+", concept) if part}
            wanted = frozenset({*(f"module:{n}" for n in names), *(n.rsplit(".", 1)[-1] for n in names)})
        score += len(wanted & features)
    return score


def _page_module(doc_id: str) -> str:
    """The module a library page documents, guessed from its name (``library/asyncio-task`` → asyncio)."""
    kind, _, page = doc_id.partition(":library/")
    module = page.split("-")[0]
    return module if kind == "manual" and re.fullmatch(r"[a-z_][\w.]*", module) else ""


def parse_body(body: str) -> list[Block]:
    """A stored passage body back into blocks (code was fenced with its language when indexed)."""
    blocks: list[Block] = []
    for piece in re.split(r"(```[\w-]*\n.*?\n```)", body, flags=re.S):
        match = _FENCE.match(piece.strip())
        if match:
            blocks.append(Block(match.group(2), "literal", match.group(1)))
            continue
        for paragraph in piece.split("\n\n"):
            text = paragraph.strip()
            if not text:
                continue
            if all(line.startswith("|") for line in text.splitlines()):
                blocks.append(Block(text, "table"))
            elif _NOTE.match(text):
                blocks.append(Block(text, "note"))
            else:
                blocks.append(Block(text, "prose"))
    return blocks


@dataclass(slots=True)
class OutlineSection:
    """What one source contributes, in its reading order (the language-model writer's passages)."""

    doc_id: str
    title: str
    score: float
    paragraphs: list[Block] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # code that ran
    api_names: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ApiItem:
    name: str  # "asyncio.create_task"
    signature: str
    summary: str  # its first sentence
    doc_id: str


@dataclass(frozen=True, slots=True)
class CourseExample:
    doc_id: str
    heading: str
    code: str  # valid Python, exactly what ran
    output: str  # its real output
    shows_error: bool
    milliseconds: float
    stable: bool = True  # a second run printed the same


@dataclass(slots=True)
class Outline:
    subject: str
    terms: list[str]
    known: bool
    sections: list[OutlineSection]
    definitions: list[tuple[str, str]]  # (sentence, doc id)
    key_points: list[tuple[str, str]]  # (sentence, doc id)
    sources: list[dict[str, object]]
    nearby: list[str]  # titles of documents that touch the subject, for an unknown one
    kind: str = "subject"
    covered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    explanations: list[tuple[Block, str]] = field(default_factory=list)  # (block, doc id)
    api: list[ApiItem] = field(default_factory=list)
    grammar: list[tuple[str, str]] = field(default_factory=list)  # (grammar text, doc id)
    examples: list[CourseExample] = field(default_factory=list)
    pitfalls: list[tuple[str, str]] = field(default_factory=list)  # (text, doc id)
    defined: list[str] = field(default_factory=list)  # the concept each of ``definitions`` defines


def _words(text: str) -> set[str]:
    return {singular(w) for w in re.findall(r"[a-z0-9_]+", fold(text)) if len(w) > 2}


def _overlap(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(text))


def _concept_words(retrieval: Retrieval) -> set[str]:
    """What shows a paragraph is on the subject: each concept as a whole, squashed so that "key
    functions" and "key-function" both contain "keyfunction"; and the names related to it
    ("sorted", "with statement"), as whole words ("=" marks those)."""
    words: set[str] = set()
    for concept in retrieval.covered or retrieval.terms:
        words.add(_squash(singular(concept)))
        for related in RELATED_TERMS.get(concept, ())[:4]:
            if len(related) > 4 and not related.startswith("_"):
                words.add("=" + fold(related))
    return {w for w in words if len(w) > 1}


def _on_topic(text: str, words: set[str]) -> bool:
    # Singular forms too: a section headed "Dictionaries" is on "dictionary".
    squashed = _squash(text) + " " + _squash(normalise(fold(text)))
    folded = fold(text)
    return any(
        re.search(rf"(?<![\w.]){re.escape(w[1:])}(?!\w)", folded) if w.startswith("=") else w in squashed
        for w in words
    )


def _with_name(snippet: _Snippet, name: str, context: list[_Snippet]) -> tuple[_Snippet, str] | None:
    """``snippet`` completed with what defines the missing ``name``, and how; None when nothing does.

    The manual builds its examples on one another: a function defined in one block is called in
    the next.  The nearest earlier block of the same document that defines the name comes first,
    so the course shows the definition with its use; else the import a page's examples assume.
    """
    earlier = [c for c in context
               if c.doc_id == snippet.doc_id and c.position < snippet.position and name in c.defines]
    if earlier:
        source = max(earlier, key=lambda c: c.position)
        example = runner.Example(source.example.statements + snippet.example.statements, snippet.example.expected,
                                 snippet.example.shows_error)
        return replace(snippet, example=example, defines=snippet.defines | source.defines), "its definition above"
    module = _page_module(snippet.doc_id)
    if name in sys.stdlib_module_names:
        line = f"import {name}"
    elif module and name != module:
        line = f"from {module} import {name}"
    else:
        return None
    example = runner.Example(((line, False), *snippet.example.statements), snippet.example.expected,
                             snippet.example.shows_error)
    return replace(snippet, example=example, defines=snippet.defines | {name}), f"“{line}”"


def _with_use(snippet: _Snippet, context: list[_Snippet]) -> _Snippet | None:
    """``snippet`` followed by the nearest later block of its document that uses what it defines."""
    # What it defines itself: a module both import is no link between two examples.
    own = snippet.defines - sys.stdlib_module_names
    later = [c for c in context
             if c.doc_id == snippet.doc_id and c.position > snippet.position and c.uses & own]
    if not later:
        return None
    use = min(later, key=lambda c: c.position)
    example = runner.Example(snippet.example.statements + use.example.statements, use.example.expected,
                             snippet.example.shows_error or use.example.shows_error)
    return replace(snippet, example=example, defines=snippet.defines | use.defines, uses=snippet.uses | use.uses)


def _at_work(passage: Passage, concepts: list[str]) -> int:
    """How much of the subject's syntax and API the passage's code uses, counting only code that shows
    what it does (a session with its output, a script that prints): 0 for none."""
    best = 0
    for block in parse_body(passage.body):
        if block.kind != "literal" or block.language not in ("python", "pycon"):
            continue
        example = runner.prepare(block.text, block.language)
        if example is None:
            continue
        features = _code_features(example)
        if example.expected or "print" in features:
            best = max(best, _teaching(features, concepts))
    return best


_HEADWORD = re.compile(r"^(?:\*\*|`)([^*`\n]+)(?:\*\*|`): ")


def _headword(term: str) -> str:
    """A glossary entry's term as the course shows it before the entry: bold, or code when it is code."""
    return f"`{term}`" if re.search(r"^[_.]|[()]", term) else f"**{term}**"


def _without_headword(sentence: str) -> str:
    return _HEADWORD.sub("", sentence, count=1)


_NOUNS = r"module|library|package|statements?|functions?|class(?:es)?|objects?|expressions?|methods?|types?"
_DEFINING_VERB = r"is|are|refers? to|means?|provides?|represents?|lets?|allows?|enables?|consists? of"


def _subject_is(sentence: str, concept: str) -> bool:
    """True when ``concept`` is what the sentence is about, as its grammatical subject followed by a verb
    that says what it is: "A descriptor is …", "Descriptors let …", "The `logging` module provides …";
    or when the sentence gives it its name: "… is called a *generator function*" (the manual's way)."""
    words = [re.escape(w) for w in re.findall(r"[\w]+", concept)]
    if not words:
        return False
    name = r"[\s-]+".join([*words[:-1], words[-1] + r"(?:s|es)?"])
    pattern = (rf"^(?:(?:an?|the)\s+)?[*`_]*(?:\w+\.)?{name}[*`_]*(?:\(\))?(?:\s+(?:{_NOUNS}))?"
               rf"(?:\s+(?:\([^()]*\)|<[^<>]*>))*,?\s+(?:{_DEFINING_VERB})\b")
    # Or what it names: "Errors detected during execution are called *exceptions*".
    named = rf"^[^,;:]{{8,160}}\b(?:is|are) (?:called|known as) (?:an? )?[*`_]*{name}\b"
    return bool(re.match(pattern, sentence, re.I) or re.match(named, sentence, re.I))


def _unbulleted(sentence: str) -> str:
    """One item of a list, put in a list of its own (a pitfall, a summary point): without its marker."""
    return re.sub(r"^(?:-|\d+\.)\s+", "", sentence)


def _explains(text: str) -> bool:
    """A paragraph that explains on its own: not an introduction to what follows ("…:"), not one item
    of a list the course does not show ("4. Convert the lambda …", "- **name** …"), and with something
    left once what points at text around it is gone."""
    if text.endswith(":") or text.startswith("- **") or re.match(r"\d+\.\s", text):
        return False
    return bool(self_contained(text))


def _note_text(text: str) -> str:
    """A note as a pitfall: its label ("**Note:**") goes (the section says what it is), a deprecation
    keeps it (the version matters), and so do the sentences that stand on their own."""
    label = _NOTE.match(text)
    kept = self_contained(text[label.end() :] if label else text)
    if label and label.group(1).startswith("Deprecated"):
        return f"{label.group(0).strip()} {kept}" if kept else ""
    return kept if kept and stands_alone(kept) else ""


class ContentEnhancerAgent:
    """Turns a pile of retrieved passages into a lesson plan, running the examples it keeps."""

    name = "ContentEnhancerAgent"

    def __init__(
        self,
        say: Callable[[str], None] = print,
        trusted: Callable[[str], bool] = lambda doc_id: False,
        limits: runner.Limits | None = None,
    ) -> None:
        self.say = say
        self.trusted = trusted
        self.limits = limits or runner.Limits()

    def enhance(self, retrieval: Retrieval) -> Outline:
        if not retrieval.known or not retrieval.documents:
            if retrieval.kind == "subject":
                self.say("Nothing in the knowledge base covers this subject as a whole.")
            return Outline(retrieval.subject, retrieval.terms, False, [], [], [], [], retrieval.nearby,
                           retrieval.kind, retrieval.covered, retrieval.missing)
        words = _concept_words(retrieval)
        outline = Outline(retrieval.subject, retrieval.terms, True, [], [], [], [], retrieval.nearby,
                          retrieval.kind, retrieval.covered, retrieval.missing)
        concepts = retrieval.covered or retrieval.terms
        subject_words = {w for concept in concepts for w in _words(concept)}
        picked = self._pick_passages(retrieval.documents, subject_words, concepts)
        self.say(f"Reading {plural(sum(len(p) for _, p in picked), 'passage')} "
                 f"from {plural(len(picked), 'document')}.")
        snippets = _Snippets()
        by_score: list[tuple[float, int, Passage, OutlineSection]] = []
        for doc, passages in picked:
            section = OutlineSection(doc.id, doc.title, doc.score)
            outline.sections.append(section)
            for passage in passages:
                by_score.append((-doc.passages[passage.seq][1], len(by_score), passage, section))
        # Best passages first: a glossary definition, then the explanations that scored best. Of the
        # glossary's entries, the one for the subject itself comes first: "generator" before
        # "asynchronous generator", which only names it.
        def rank(item: tuple[float, int, Passage, OutlineSection]) -> tuple[bool, float, int]:
            heading = _words(item[2].heading)
            defining = item[2].doc_id.endswith(":glossary") and bool(heading) and heading <= subject_words
            return (not defining, item[0], item[1])

        by_score.sort(key=rank)
        for _, _, passage, section in by_score:
            self._read(passage, section, outline, words, snippets, concepts)
        # A page that gave only API entries is a source too: the course names it under each entry.
        outline.sections = [s for s in outline.sections if s.paragraphs or s.api_names]
        outline.explanations = outline.explanations[:MAX_EXPLANATIONS]
        self.say(f"Kept {plural(len(outline.explanations), 'explanation')} on the subject, "
                 f"{plural(len(outline.api), 'API entry', 'API entries')}"
                 + (f" ({', '.join(a.name for a in outline.api)})" if outline.api else "") + ".")
        self._run_examples(snippets, outline, concepts)
        defined = self._definitions(outline, concepts)
        outline.definitions = [(text, doc_id) for text, doc_id, _ in defined]
        outline.defined = [concept for _, _, concept in defined]
        outline.key_points = self._key_points(outline, words, {_without_headword(d) for d, _ in outline.definitions})
        outline.pitfalls = outline.pitfalls[:MAX_PITFALLS]
        self.say(f"Picked {plural(len(outline.definitions), 'definition')}, "
                 f"{plural(len(outline.key_points), 'key point')} and {plural(len(outline.pitfalls), 'pitfall')}.")
        # Titles as text: a client shows them as they are ("`typing` — …" is the manual's markup).
        outline.sources = [{"id": s.doc_id, "title": s.title.replace("`", ""), "score": round(s.score, 3)}
                           for s in outline.sections]
        return outline

    @staticmethod
    def _pick_passages(
        documents: list[ScoredDocument], subject_words: set[str], concepts: list[str] | None = None
    ) -> list[tuple[ScoredDocument, list[Passage]]]:
        """The best passages of each document, without near-duplicates, in the document's order.

        A glossary's entry for the subject itself is taken before its neighbours ("generator"
        before "asynchronous generator"), which would otherwise crowd it out as near-duplicates.
        Then up to ``EXAMPLE_PASSAGES_PER_DOCUMENT`` more whose code shows the subject at work
        (contextlib's ``ContextDecorator`` session printing "Starting" … "Finishing"), best first.
        """
        seen: list[set[str]] = []
        picked: list[tuple[ScoredDocument, list[Passage]]] = []
        for doc in documents:
            chosen: list[Passage] = []
            ranked = doc.ranked_passages()
            if doc.id.endswith(":glossary"):
                ranked = sorted(ranked, key=lambda item: len(_words(item[0].heading) - subject_words))
            for passage, _ in ranked:
                if len(chosen) >= PASSAGES_PER_DOCUMENT:
                    break
                words = _words(passage.body)
                if any(_overlap(words, other) >= DUPLICATE_OVERLAP for other in seen):
                    continue
                seen.append(words)
                chosen.append(passage)
            if concepts:
                # The entry of a name the subject goes by (``contextlib.contextmanager``, ``sorted``).
                named = {r.rsplit(".", 1)[-1] for c in concepts for r in RELATED_TERMS.get(c, ())
                         if re.fullmatch(r"[\w.]+", r)}
                entries = [p for p, _ in ranked if p not in chosen and p.body.startswith("```signature")
                           and p.heading.split("(")[0].strip().rsplit(".", 1)[-1] in named]
                chosen += entries[:NAMED_ENTRIES_PER_DOCUMENT]
                at_work = [(-min(_at_work(p, concepts), 3), i, p) for i, (p, _) in enumerate(ranked) if p not in chosen]
                chosen += [p for teaches, _, p in sorted(at_work) if teaches][:EXAMPLE_PASSAGES_PER_DOCUMENT]
            if chosen:
                picked.append((doc, sorted(chosen, key=lambda p: p.seq)))
        return picked

    def _read(
        self,
        passage: Passage,
        section: OutlineSection,
        outline: Outline,
        words: set[str],
        snippets: _Snippets,
        concepts: list[str] | None = None,
    ) -> None:
        blocks = parse_body(passage.body)
        signature = blocks[0].text if blocks and blocks[0].language == "signature" else ""
        if signature:
            blocks = blocks[1:]
            name = signature.split("(")[0].split()[-1] if signature.split("(")[0].split() else signature
            first = next((b.text for b in blocks if b.kind == "prose"), "")
            summary = (sentences(first) or [""])[0]
            if summary.endswith(":"):  # it introduced a list or a block the entry does not show
                summary = summary[:-1].rstrip() + "."
            best = max((s.score for s in outline.sections), default=0.0)
            on_topic = section.score >= API_RELATIVE_SCORE * best and _on_topic(signature + " " + first, words)
            if on_topic and len(outline.api) < MAX_API and all(a.name != name for a in outline.api):
                outline.api.append(ApiItem(name, signature, summary, passage.doc_id))
                section.api_names.append(name)
        on_topic_passage = _on_topic(passage.heading + " " + passage.title, words)
        explained = 0
        for number, block in enumerate(blocks):
            if block.kind == "literal":
                if "::=" in block.text and _on_topic(block.text, words):
                    outline.grammar.append((block.text, passage.doc_id))
                    section.paragraphs.append(block)
                    continue
                snippet = self._snippet(block, passage, number, concepts or [])
                if snippet is None:
                    continue
                snippets.context.append(snippet)
                if snippet.teaches or _on_topic(block.text, words) or _on_topic(passage.heading, words):
                    snippets.candidates.append(snippet)
                    section.paragraphs.append(block)
                continue
            if not (_on_topic(block.text, words) or (on_topic_passage and block.kind == "prose" and not signature)):
                continue
            section.paragraphs.append(block)
            if block.kind == "note":
                note = _note_text(block.text)
                if note:
                    outline.pitfalls.append((note, passage.doc_id))
            elif block.kind == "table" and not signature and explained < 2:
                outline.explanations.append((block, passage.doc_id))
                explained += 1
            elif block.kind == "prose" and not signature and explained < 2 and _explains(block.text):
                text = self_contained(block.text)
                if passage.doc_id.endswith(":glossary") and not explained:
                    text = f"{_headword(passage.heading)}: {text}"  # "A function which …" names no generator
                outline.explanations.append((Block(text, "prose"), passage.doc_id))
                explained += 1
            if block.kind == "prose" and _PITFALL.search(block.text) and _on_topic(block.text, words):
                for sentence in sentences(block.text):
                    if (_PITFALL.search(sentence) and _on_topic(sentence, words) and 30 < len(sentence) < 300
                            and stands_alone(sentence)):
                        outline.pitfalls.append((_unbulleted(sentence), passage.doc_id))
                        break

    @staticmethod
    def _snippet(block: Block, passage: Passage, number: int, concepts: list[str]) -> _Snippet | None:
        if block.language not in ("python", "pycon"):
            return None
        example = runner.prepare(block.text, block.language)
        if example is None:
            return None
        return _Snippet(example, passage.doc_id, passage.heading, (passage.seq, number), _bound_names(example),
                        _used_names(example), _teaching(_code_features(example), concepts))

    def _run_examples(self, snippets: _Snippets, outline: Outline, concepts: list[str] | None = None) -> None:
        """Run the candidate examples, in order, until enough have run; keep those that print something."""
        trusted = [s for s in snippets.candidates if self.trusted(s.doc_id)]
        if len(trusted) < len(snippets.candidates):
            self.say(f"Not running {plural(len(snippets.candidates) - len(trusted), 'example')} from documents "
                     "whose code is not trusted.")
        # The interpreter's internals (``ast.dump`` of a walrus) teach those internals, not the subject.
        internals = [s for s in trusted
                     if _page_module(s.doc_id) in INTERNALS and _page_module(s.doc_id) not in (concepts or [])]
        if internals:
            self.say(f"Leaving out {plural(len(internals), 'example')} of the interpreter's internals "
                     f"({', '.join(sorted({_page_module(s.doc_id) for s in internals}))}).")
            trusted = [s for s in trusted if s not in internals]
        # The best document's first example that uses the subject's syntax or API (a document starts
        # with its simplest), then those that use most of it (sorting with ``key=``, the walrus's ``:=``),
        # in the documents' reading order otherwise; at most two shown from one heading, so that four
        # variants of one example do not make the whole section.
        rank = {section.doc_id: i for i, section in enumerate(outline.sections)}

        def reading(s: _Snippet) -> tuple[int, tuple[int, int]]:
            return rank.get(s.doc_id, len(rank)), s.position

        first = min((s for s in trusted if s.teaches), key=reading, default=None)
        ranked = ([first] if first else []) + sorted((s for s in trusted if s is not first),
                                                     key=lambda s: (-min(s.teaches, 3), *reading(s)))
        total = min(len(ranked), MAX_EXAMPLE_ATTEMPTS)
        shown: dict[tuple[str, str], int] = {}
        seen: set[str] = set()
        ran: list[CourseExample] = []
        tried = 0
        spent = 0.0
        for snippet in ranked:
            if len(ran) == MAX_EXAMPLES or tried == total:
                break  # enough: the rest would only cost time
            if shown.get((snippet.doc_id, snippet.heading), 0) >= MAX_EXAMPLES_PER_HEADING:
                continue
            if spent > EXAMPLES_SECONDS:
                self.say(f"Not running the {plural(total - tried, 'other example')}: "
                         f"{spent:.1f} s spent running examples already.")
                break
            tried = number = tried + 1
            self.say(f"Running example {number}/{total} from {snippet.doc_id} ({snippet.heading[:60]})…")
            example, doc_id, heading = snippet.example, snippet.doc_id, snippet.heading
            # No run outlasts what is left of the time for examples (a socket server waits forever).
            limits = replace(self.limits, wall_seconds=max(MIN_WALL_SECONDS,
                                                           min(self.limits.wall_seconds, EXAMPLES_SECONDS - spent)))
            result = runner.run(example, limits)
            for _ in range(MAX_NAME_FIXES):
                missing = _MISSING_NAME.match(result.error)
                completed = _with_name(snippet, missing.group(1), snippets.context) if missing else None
                if completed is None:
                    break
                snippet, why = completed
                example = snippet.example
                self.say(f"  {result.error}: trying again with {why}")
                result = runner.run(example, limits)
            milliseconds = result.seconds * 1000
            followed = _with_use(snippet, snippets.context) if result.ok and not result.output else None
            if followed is not None:
                # Code that only defines things shows nothing: the document's next use of them does.
                self.say("  it prints nothing: trying again with the next example that uses it")
                example = followed.example
                result = runner.run(example, limits)
                milliseconds += result.seconds * 1000
            spent += milliseconds / 1000
            if not result.ok or not result.output:
                self.say(f"  left out: {result.error or 'it prints nothing'} ({milliseconds:.0f} ms)")
                continue
            if result.code in seen or any(result.code in code for code in seen):
                continue
            seen.add(result.code)
            lines = result.output.count("\n") + 1
            self.say(f"  ran in {milliseconds:.0f} ms: {plural(lines, 'line')} of output")
            # Run once more: an output that differs between runs (addresses, times, ordering)
            # cannot be the answer to "what does this print?".
            if spent + result.seconds > EXAMPLES_SECONDS:
                stable = False
                self.say("  no time left to run it twice: shown, but not asked in the quiz")
            else:
                again = runner.run(example, limits)
                spent += again.seconds
                stable = again.ok and again.output == result.output
                if not stable:
                    self.say("  its output changes from run to run: shown, but not asked in the quiz")
            ran.append(CourseExample(doc_id, heading, result.code, result.output, example.shows_error,
                                     milliseconds, stable))
            shown[(doc_id, heading)] = shown.get((doc_id, heading), 0) + 1
        outline.examples = ran
        for kept in outline.examples:
            for section in outline.sections:
                if section.doc_id == kept.doc_id:
                    section.examples.append(kept.code)
        self.say(f"Kept {plural(len(ran), 'example')} of {tried} tried.")

    @staticmethod
    def _definitions(outline: Outline, concepts: list[str]) -> list[tuple[str, str, str]]:
        """(sentence, doc id, the concept it defines): a glossary entry's first sentence, with its
        headword, when the entry is the concept's; else a sentence whose subject is the concept
        ("Descriptors let objects customize attribute lookup …"), never one that merely names it
        ("If no exception occurs, the except clause is skipped …")."""
        picked: list[tuple[str, str, str]] = []
        for block, doc_id in outline.explanations:
            if block.kind != "prose":
                continue
            glossary = _HEADWORD.match(block.text) if doc_id.endswith(":glossary") else None
            for number, sentence in enumerate(sentences(block.text)):
                if glossary:
                    concept = next((c for c in concepts if normalise(c) == normalise(glossary.group(1))), "")
                    if number or not concept:
                        break
                else:
                    concept = next((c for c in concepts if _subject_is(sentence, c)), "")
                bare = _without_headword(sentence)
                if concept and 30 <= len(bare) <= 280 and stands_alone(bare):
                    picked.append((_unbulleted(sentence), doc_id, concept))
                    break
            if len(picked) == 3:
                break
        return picked

    @staticmethod
    def _key_points(outline: Outline, words: set[str], exclude: set[str]) -> list[tuple[str, str]]:
        picked: list[tuple[str, str]] = []
        for block, doc_id in outline.explanations:
            if block.kind != "prose":
                continue
            for sentence in sentences(block.text):
                if sentence in exclude or not 40 <= len(sentence) <= 240 or not _on_topic(sentence, words):
                    continue
                if not stands_alone(sentence):
                    continue
                if all(_overlap(_words(sentence), _words(p)) < DUPLICATE_OVERLAP for p, _ in picked):
                    picked.append((_unbulleted(sentence), doc_id))
                break
            if len(picked) == 4:
                break
        for api in outline.api[:2]:
            if api.summary:
                picked.append((f"`{api.name}`: {api.summary}", api.doc_id))
        return picked
