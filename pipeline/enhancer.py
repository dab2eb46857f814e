"""ContentEnhancerAgent: turns the chosen sections into a lesson, keeping their paragraphs whole and
in their order.

What it is (the glossary's entry, else the first section's opening), the syntax (the API entries
the subject names, with their signatures and first paragraph), the sections themselves (prose
whole, each code block run in the sandbox, in the order of the manual's own session so that the
second example may use what the first defined), the pitfalls the manual states outright (its
notes and warnings), key points for the summary, and a quiz (``quiz``).  A section is trimmed at
its end, never spliced: once the course has enough examples and text, the rest of a section is
left for its link.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from . import examples as runner
from ._text import Block, sentences, stands_alone
from .knowledge import plural
from .retriever import Retrieval
from .sections import ManualSection
from .snippets import chunks, names, reason, teaches, why_varies

__all__ = ("ApiItem", "ContentEnhancerAgent", "CourseExample", "LessonItem", "Outline", "OutlineSection",
           "Pitfall")

MAX_EXAMPLES = 4  # shown, with output: two to four, from simple to richer
MAX_CHARS = 7000  # of prose in the lesson: a handout, not the page
MAX_SESSION_RETRIES = 5
EXAMPLES_SECONDS = 2.0  # running examples stops once a course spent this long on them (p50 under 3 s)
@dataclass(frozen=True, slots=True)
class CourseExample:
    doc_id: str
    heading: str  # the section it is from
    code: str  # exactly what ran
    output: str  # its real output
    shows_error: bool
    milliseconds: float
    varies: str = ""  # why the output may differ on a learner's run: "order" (hash), "address", "time"
    number: int = 0
    continues: int = 0  # the number of the example whose names it uses (0: it stands alone)
    setup: tuple[str, ...] = ()  # the code of the examples it builds on, for re-running a changed version
    teaches: bool = True  # it uses the subject's own API or syntax


@dataclass(frozen=True, slots=True)
class LessonItem:
    block: Block
    example: CourseExample | None = None
    note: str = ""  # for code that did not run: why


@dataclass(slots=True)
class OutlineSection:
    """One chosen section as the course shows it (and as the language model's writer reads it)."""

    section: ManualSection
    role: str  # "teaching" | "api"
    items: list[LessonItem] = field(default_factory=list)

    @property
    def doc_id(self) -> str:
        return self.section.doc_id

    @property
    def title(self) -> str:
        return f"{self.section.name} — {self.section.title}"

    @property
    def paragraphs(self) -> list[Block]:
        return [item.block for item in self.items]

    @property
    def api_names(self) -> list[str]:
        return [self.section.api_name] if self.section.api_name else []


@dataclass(frozen=True, slots=True)
class ApiItem:
    name: str
    signature: str
    summary: str  # its first paragraph, whole
    doc_id: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class Pitfall:
    text: str  # the note or warning, whole
    source: ManualSection
    code: str = ""  # the code it warns about, when the manual shows it
    output: str = ""  # what that code prints (the quiz asks it)


@dataclass(slots=True)
class Outline:
    subject: str
    terms: list[str]
    known: bool
    kind: str = "subject"
    french: bool = False
    sections: list[OutlineSection] = field(default_factory=list)
    what_it_is: list[Block] = field(default_factory=list)
    what_source: ManualSection | None = None
    api: list[ApiItem] = field(default_factory=list)
    siblings: list[ApiItem] = field(default_factory=list)
    examples: list[CourseExample] = field(default_factory=list)
    pitfalls: list[Pitfall] = field(default_factory=list)
    key_points: list[str] = field(default_factory=list)  # Markdown-ready: the sources' own words
    sources: list[dict[str, object]] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    nearby: list[str] = field(default_factory=list)
    features: set[str] = field(default_factory=set)
    quiz: list[tuple[str, str]] = field(default_factory=list)  # (question, answer), Markdown


# "Normally, these variadic arguments …": a sentence that leans on the one before, a few words in.
_LEANS = re.compile(r"^(?:\w+,?\s+){0,3}(?:these|this|those|such|it|they|them|above|below|following)\b", re.I)


# A sentence that warns in so many words: "Note: to create an empty set you have to use set(), not {}".
_WARNS = re.compile(r"^\*{0,2}(?:important\s+)?(?:note|warning|caution|important)(?::\*\*|\*\*:|:)|"
                    r"^Be careful\b|^Beware\b|"
                    r"^(?:Note|Keep in mind) that\b.*\b(?:not|never|must|only)\b", re.I)


def _printed_expression(example: CourseExample) -> str:
    """The one expression an example prints, when it prints one short line (``json.dumps(x)``)."""
    if example.varies or "\n" in example.output or not 0 < len(example.output) <= 60 or "`" in example.output:
        return ""
    try:
        tree = ast.parse(example.code)
    except SyntaxError:
        return ""
    prints = [n.value for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
              and isinstance(n.value.func, ast.Name) and n.value.func.id == "print"]
    if len(prints) != 1 or len(prints[0].args) != 1 or prints[0].keywords:
        return ""
    value = prints[0].args[0]
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "repr" and value.args:
        value = value.args[0]
    text = " ".join((ast.get_source_segment(example.code, value) or "").split())  # as the example writes it
    return text if len(text) <= 70 and "`" not in text else ""


def _stands_alone(sentence: str) -> bool:
    return stands_alone(sentence) and not _LEANS.match(sentence) and len(sentence) <= 300


def _signatures(block: Block, section: ManualSection) -> bool:
    """Whether a block is the entry's signatures, one a line (``lru_cache(user_function)`` …)."""
    short = section.api_name.rsplit(".", 1)[-1]
    return block.literal and block.language == "text" and bool(short) and all(
        short in line.split("(")[0] for line in block.text.splitlines())


def _page_module(section: ManualSection) -> str:
    """The module a library page documents (``library/functools`` → ``functools``), "" for others."""
    if section.kind != "library" or not section.doc_id.startswith("manual:"):
        return ""
    name = section.page.split("/", 1)[-1]
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*", name) else ""


class ContentEnhancerAgent:
    """Reads the chosen sections into a lesson: whole paragraphs, examples that ran, stated pitfalls."""

    name = "ContentEnhancerAgent"

    def __init__(self, say: Callable[[str], None] = print, trusted: Callable[[str], bool] = lambda doc_id: True,
                 limits: runner.Limits | None = None) -> None:
        self.say = say
        self.trusted = trusted
        self.limits = limits or runner.Limits()
        self._spent = 0.0

    def enhance(self, retrieval: Retrieval) -> Outline:
        outline = Outline(retrieval.subject, retrieval.terms, retrieval.known, retrieval.kind, retrieval.french,
                          covered=retrieval.covered, missing=retrieval.missing, nearby=retrieval.nearby,
                          features=set(retrieval.features))
        if not retrieval.known:
            return outline
        api_ids = {a.id for a in retrieval.api}
        for section in retrieval.sections:
            outline.sections.append(OutlineSection(section, "api" if section.id in api_ids else "teaching"))
        self._what_it_is(outline, retrieval.glossary)
        outline.api = [self._api_item(s) for s in retrieval.api]
        outline.siblings = [self._api_item(s) for s in retrieval.siblings]
        budget = MAX_CHARS
        for part in outline.sections:
            budget = self._read(part, outline, budget)
        # A section the lesson had no room left for is not one the course is built from.
        if any(p.items for p in outline.sections if p.role == "teaching"):
            outline.sections = [p for p in outline.sections if p.items or p.role == "api"]
        self._number(outline)
        self._stated_pitfalls(outline)
        self._key_points(outline)
        outline.sources = self._sources(outline, retrieval)
        from .quiz import build_quiz  # the quiz runs changed examples: it needs the outline complete

        outline.quiz = build_quiz(outline, self.limits)
        self.say(f"Lesson: {plural(len(outline.sections), 'section')}, {plural(len(outline.examples), 'example')} "
                 f"that ran, {plural(len(outline.pitfalls), 'pitfall')}, {plural(len(outline.quiz), 'quiz question')}.")
        return outline

    # -- parts ---------------------------------------------------------------------

    def _what_it_is(self, outline: Outline, glossary: ManualSection | None) -> None:
        """The glossary's entry; else the first section's opening paragraphs, up to its first code."""
        if glossary is not None:
            # Whole paragraphs up to the first code: one that leads into code it would not show (ending
            # with "equivalent:") is left out with it.
            kept: list[Block] = []
            for block in glossary.blocks:
                if block.kind not in ("prose", "note") or len(kept) == 2:
                    break
                if block.text.rstrip().endswith(":"):
                    break
                kept.append(block)
            outline.what_it_is = kept
            outline.what_source = glossary
            self.say(f"What it is: the glossary's entry \"{glossary.heading}\".")
            return
        first = next((p for p in outline.sections if p.role == "teaching"), None)
        if first is None:
            return
        opening: list[Block] = []
        for block in first.section.blocks:
            if block.kind == "heading" and not opening:
                continue
            if block.kind != "prose" or len(opening) == 2 or block.text.endswith(":"):
                break
            opening.append(block)
        outline.what_it_is = opening
        outline.what_source = first.section
        self.say(f"What it is: the opening of {first.section.label()}.")

    @staticmethod
    def _api_item(section: ManualSection) -> ApiItem:
        summary = next((b.text for b in section.blocks if b.kind == "prose"), "")
        signature = section.blocks[0].text if section.blocks and _signatures(section.blocks[0], section) else (
            section.signature)
        return ApiItem(section.api_name, signature, summary, section.doc_id, section.url())

    def _read(self, part: OutlineSection, outline: Outline, budget: int) -> int:
        """The section's blocks in order (those "what it is" and the syntax show already left out), its
        code run as one session, its notes kept as pitfalls; trimmed at the end once the lesson is full."""
        blocks = [chunk for block in part.section.blocks for chunk in chunks(block)]
        if outline.what_source is part.section:
            opened = {id(b) for b in outline.what_it_is}
            while blocks and (id(blocks[0]) in opened or (blocks[0].kind == "heading" and opened)):
                blocks = blocks[1:]
        if part.role == "api":
            # The entry's other signatures and its first paragraph are under "Syntax" already.
            if blocks and _signatures(blocks[0], part.section):
                blocks = blocks[1:]
            if blocks and blocks[0].kind == "prose":
                blocks = blocks[1:]
        runnable = {i: ex for i, b in enumerate(blocks) if b.literal and self.trusted(part.doc_id)
                    and (ex := runner.prepare(b.text, b.language)) is not None}
        started = time.perf_counter()
        runs, errors = self._session(runnable, _page_module(part.section))
        if runnable:
            self.say(f'Running the examples of {"entry" if part.section.api_name else "section"} '
                     f'"{part.section.name}": {len(runs)} of {len(runnable)} ran in '
                     f"{(time.perf_counter() - started) * 1000:.0f} ms.")
        previous = ""
        for i, block in enumerate(blocks):
            shown = sum(1 for p in outline.sections for it in p.items if it.example is not None)
            # Past the budget, a section goes on only while the course has fewer than two examples.
            full = budget <= 0 and (len(outline.examples) >= 2 or budget <= -2 * MAX_CHARS)
            if len(outline.examples) >= MAX_EXAMPLES or shown > MAX_EXAMPLES or full:
                break  # trimmed at the end: what follows is on the page, linked under Sources
            if block.kind == "prose" and _WARNS.match(block.text):
                block = Block(block.text, "note")  # "**Important warning:** …": a warning, in so many words
            if block.kind == "note":
                outline.pitfalls.append(self._pitfall(block, blocks[i + 1] if i + 1 < len(blocks) else None,
                                                      runs.get(i + 1), part.section))
                previous = "note"
                continue
            if block.literal and previous == "note" and blocks[i - 1].text.endswith(":"):
                continue  # the code a warning shows: it is the pitfall's (and the quiz's), not an example
            previous = block.kind
            run = runs.get(i)
            if block.literal and run is not None and run.ok:
                example = CourseExample(part.doc_id, part.section.name, run.code, run.output,
                                        runnable[i].shows_error, run.seconds * 1000,
                                        why_varies(run.code, run.output),
                                        setup=tuple(runs[j].code for j in sorted(runs) if j < i and runs[j].ok),
                                        teaches=teaches(run.code, outline.features))
                part.items.append(LessonItem(block, example))
                if example.output.strip():
                    outline.examples.append(example)
                continue
            if block.literal:
                reason = errors.get(i) or ("it is not Python" if block.language not in ("python", "pycon")
                                           else "it is not complete on its own")
                part.items.append(LessonItem(block, note=reason))
                continue
            part.items.append(LessonItem(block))
            budget -= len(block.text)
        while part.items and part.items[-1].example is None and part.items[-1].block.text.endswith(":"):
            part.items.pop()  # "… provide the following operations:" with nothing after it: trimmed at the end
        return budget

    def _session(self, runnable: dict[int, runner.Example], module: str = "") -> tuple[
            dict[int, runner.Run], dict[int, str]]:
        """Run a section's examples as the manual's session; a block that fails is left out and the rest
        run again without it (a later block may have needed only what came before the failing one)."""
        left = sorted(runnable)
        done: dict[int, runner.Run] = {}
        errors: dict[int, str] = {}
        for _ in range(MAX_SESSION_RETRIES + 1):
            if not left or self._spent > EXAMPLES_SECONDS:
                for i in left:
                    errors.setdefault(i, "this course had no time left to run it: try it yourself")
                break
            started = time.perf_counter()
            runs = dict(zip(left, runner.run_session([runnable[i] for i in left], self.limits), strict=True))
            self._spent += time.perf_counter() - started
            failed = next((i for i in left if (r := runs[i]) is not None and not r.ok), None)
            done = {i: r for i, r in runs.items() if r is not None and r.ok}
            if failed is None:
                break
            error = r.error if (r := runs[failed]) is not None else ""
            missing = re.match(r"NameError: name '(\w+)' is not defined", error)
            imports = f"from {module} import {missing.group(1)}" if missing and module else ""
            if imports and not runnable[failed].statements[0][0].startswith(imports):
                # A module's page uses its names unqualified (``lru_cache``): the import it leaves
                # implicit is shown and run with the example.
                example = runnable[failed]
                runnable[failed] = replace(example, statements=((imports, False), *example.statements))
                continue
            errors[failed] = reason(error)
            left.remove(failed)
        return done, errors

    def _pitfall(self, note: Block, following: Block | None, run: runner.Run | None,
                 section: ManualSection) -> Pitfall:
        code = output = ""
        if following is not None and following.literal and note.text.endswith(":") and run is not None and run.ok:
            code, output = run.code, run.output
        return Pitfall(note.text, section, code, output)

    @staticmethod
    def _stated_pitfalls(outline: Outline) -> None:
        """The warnings the manual's prose states outright ("Note: to create an empty set you have to use
        ``set()``, not ``{}``"), beside its notes and warnings: each sentence whole, with its source."""
        said = {p.text for p in outline.pitfalls}
        prose = [(b, outline.what_source) for b in outline.what_it_is if outline.what_source is not None]
        prose += [(item.block, part.section) for part in outline.sections for item in part.items
                  if item.block.kind == "prose"]
        for block, source in prose:
            for sentence in sentences(block.text):
                if _WARNS.match(sentence) and sentence not in said and len(sentence) <= 400 and source is not None:
                    outline.pitfalls.append(Pitfall(sentence, source))
                    said.add(sentence)

    @staticmethod
    def _number(outline: Outline) -> None:
        """Number the shown examples, and say which earlier one each uses the names of."""
        numbered: list[CourseExample] = []
        for part in outline.sections:
            defined: list[tuple[int, set[str]]] = []  # this section's session: (example number, names bound)
            for n, item in enumerate(part.items):
                example = item.example
                if example is None:
                    continue
                number = len(numbered) + 1
                bound, used = names(example.code)
                continues = max((k for k, names in defined if names & (used - bound)), default=0)
                example = replace(example, number=number, continues=continues)
                part.items[n] = LessonItem(item.block, example)
                defined.append((number, bound))
                numbered.append(example)
        outline.examples = [e for e in numbered if e.output.strip()][:MAX_EXAMPLES]

    @staticmethod
    def _key_points(outline: Outline) -> None:
        """The summary: each API entry's first sentence, each section's first sentence that stands alone."""
        points: list[str] = []
        source = outline.what_source
        if source is not None and source.kind == "glossary" and outline.what_it_is:
            first = sentences(outline.what_it_is[0].text)[:1]
            if first:
                points.append(f"**{source.heading}**: {first[0]}")
        for api in outline.api:
            first = sentences(api.summary)[:1]
            if first:
                points.append(f"`{api.name}`: {first[0]}")
        # Each teaching section's opening that stands alone (a summary of more than one copied sentence),
        # then what the manual warns about.
        for part in [p for p in outline.sections if p.role == "teaching"][:3]:
            prose = [item.block.text for item in part.items if item.block.kind == "prose"]
            opening = next((s for p in prose[:2] for s in sentences(p)[:2] if _stands_alone(s)), "")
            if opening:
                points.append(opening)
        watch = "Attention" if outline.french else "Watch out"
        for pitfall in outline.pitfalls[:2]:
            first = sentences(re.sub(r"^(?:\*\*[^*]+[:.]\*\*|(?:Note|Warning|Caution|Important):)\s*", "",
                                     pitfall.text))[:1]
            if first and not first[0].rstrip().endswith(":"):  # a pitfall was kept as one that stands alone
                points.append(f"{watch}: {first[0][:1].upper()}{first[0][1:]}")
        word = "Exemple" if outline.french else "Example"
        for example in outline.examples[:3]:
            shown = _printed_expression(example)
            if shown:
                points.append(f"{word} {example.number}: ``{shown}`` → ``{example.output}``")
        outline.key_points = list(dict.fromkeys(points))[:8]

    @staticmethod
    def _sources(outline: Outline, retrieval: Retrieval) -> list[dict[str, object]]:
        chosen = [*(p.section for p in outline.sections)]
        if retrieval.glossary is not None:
            chosen.insert(0, retrieval.glossary)
        return [{"id": f"{s.doc_id}#{s.anchor}" if s.anchor else s.doc_id, "title": f"{s.name} — {s.title}",
                 "score": round(1.0 - n * 0.1, 2), "url": s.url()} for n, s in enumerate(chosen)]
