"""CourseGeneratorAgent: writes the course in Markdown, in teaching order, from the lesson plan.

What it is, the syntax and API, examples (each one ran: its real output is
shown under it), pitfalls, a summary, a quiz, the sources.  Everything comes
from the knowledge base: explanations are the sources' own words, and every
quiz answer is either the real output of code that ran or a name and sentence
of the same source entry, so it can be checked.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator

from ._subject import read_subject
from ._text import Block
from .enhancer import ApiItem, CourseExample, Outline
from .knowledge import plural

__all__ = ("CourseGeneratorAgent", "markdown_text")

SUMMARY_POINTS = 6
# A French request gets the English manual's course: said once, in French, before anything else.
FRENCH_NOTE = "*Ce cours est rédigé en anglais : il est tiré du manuel officiel de Python, qui est en anglais.*"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")
# Code as the sources write it: ``double`` or `single` backticks (the manual, reST in
# docstrings), or Sphinx's text output's "quoted" single tokens (pydoc topics).
_CODE = re.compile(r"``(?P<rst>[^`\n]+?)``|`(?P<md>[^`\n]+?)`|\"(?P<quoted>[^\"\s]{1,60})\"")
_EMPHASIS = re.compile(r"(?<![\w*])(?P<mark>\*\*?)(?P<em>[A-Za-z0-9][^*\n]{0,80}?)(?P=mark)(?![\w*])")
_INLINE = re.compile(f"{_CODE.pattern}|{_EMPHASIS.pattern}")


def _escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def markdown_text(text: str) -> str:
    """Prose from a document as safe Markdown: code spans for code, emphasis kept, everything else escaped.

    Escaping matters twice: an identifier like ``__init__`` must not turn bold,
    and nothing from a document may reach a renderer as HTML.
    """
    out: list[str] = []
    last = 0
    for match in _INLINE.finditer(text):
        out.append(_escape(text[last : match.start()]))
        code = match.group("rst") or match.group("md") or match.group("quoted")
        if code is not None:
            out.append(_code_span(code))
        else:
            marker, inner = match.group("mark"), match.group("em")
            out.append(f"{marker}{markdown_text(inner)}{marker}")
        last = match.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def _code_span(code: str) -> str:
    ticks = "``" if "`" in code else "`"
    pad = " " if code.startswith("`") or code.endswith("`") else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"


def _code_block(code: str, language: str) -> str:
    fence = "~~~~" if "```" in code else "```"
    return f"{fence}{language}\n{code}\n{fence}"


def _plain_title(title: str) -> str:
    return title.replace("`", "")


# How a request is put, not what it is about: "explain decorators with examples" is "Decorators".
_ASKING = re.compile(
    r"^(?:(?:please|can you|could you|i want to|i'd like to|i would like to)\s+)*"
    r"(?:(?:explain|teach me|teach|show me|tell me|learn|understand|describe)(?:\s+(?:about|me))?|"
    r"how (?:do|can|should) (?:i|you|we)|how to|what (?:is|are)|give me|write)?\b\s*"
    r"(?:(?:a|an|the)\s+)?(?:(?:short\s+|quick\s+|simple\s+)?(?:tutorial|course|lesson|introduction|guide|"
    r"overview|explanation)\s+(?:on|of|to|about)\s+)?",
    re.I,
)
_ASKING_END = re.compile(r"(?:\s+(?:with|using) (?:some |a few )?(?:code )?examples?|\s+for beginners|\s+in python|"
                         r"\s+please)+\s*[?.!]*$|\s*[?.!]+$", re.I)
# Stdlib modules whose name is not an English word: their case is their name ("json", "pathlib").
_ENGLISH_MODULES = frozenset({"logging", "threading", "string", "random", "math", "time", "calendar", "queue",
                              "signal", "socket", "array", "copy", "types", "secrets", "statistics", "operator",
                              "decimal", "fractions", "numbers", "warnings", "locale", "email", "typing", "enum",
                              "collections", "glob", "code", "select", "inspect", "shelve", "trace", "dis"})


def course_title(subject: str) -> str:
    """The subject as a course's title: the request's phrasing gone ("explain …", "how do I …", "… with
    examples"), no control character, capitalised unless it starts with a name whose case is its
    meaning (``json``, ``f-strings``, ``__init__``, ``collections.Counter``)."""
    text = "".join(c for c in subject if c.isprintable() and c != "\ufffd")
    text = " ".join(text.split())
    bare = _ASKING_END.sub("", _ASKING.sub("", text, count=1)).strip()
    text = bare if len(bare) > 1 else text.rstrip("?.! ")
    first = text.split()[0] if text.split() else ""
    case_matters = (first.startswith(("f-", "__")) or re.search(r"[._]|[a-z][A-Z]", first)
                    or (first.lower() in sys.stdlib_module_names and first.lower() not in _ENGLISH_MODULES))
    return text if case_matters else text[:1].upper() + text[1:]


def _title_case(subject: str, outline: Outline) -> str:
    return course_title(subject)


def _example_heading(heading: str) -> str:
    """An example's section as a heading: an API entry as its name in code (``functools.wraps``, not
    ``functools.wraps(wrapped, assigned=WRAPPER\\_ASSIGNMENTS, …)`` with escapes), prose as prose."""
    entry = re.match(r"^([A-Za-z_]\w*(?:\.\w+)*)(\(.*\))?$", heading.strip())
    if entry and ("." in entry.group(1) or entry.group(2)):
        return _code_span(entry.group(1))
    return markdown_text(_plain_title(heading))


def _countable(concept: str) -> bool:
    """A concept that takes "a": "a *key function*", "an *iterator*"; not a module (*pathlib*), an
    activity (*sorting*, *logging*) or a name (``f-string`` does: "an *f-string*")."""
    word = concept.split()[-1] if concept.split() else ""
    if concept in sys.stdlib_module_names or word.endswith("ing") or not re.fullmatch(r"[a-z][a-z -]*", concept):
        return concept.startswith("f-")
    return True


def _source(doc_id: str) -> str:
    return f"(`{doc_id}`)"


class CourseGeneratorAgent:
    """Writes the Markdown course and hands it over one part at a time."""

    name = "CourseGeneratorAgent"

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.say = say

    def write(self, outline: Outline, knowledge_base: str) -> Iterator[str]:
        """Yield the course as Markdown pieces, each a complete part (title, a section, the quiz …)."""
        if not outline.known:
            self.say("Writing a short answer: there is no course to write.")
            yield self._refusal(outline, knowledge_base)
            return
        self.say("Writing the title and learning objectives.")
        yield self._opening(outline)
        parts = [
            ("What it is", self._what_it_is),
            ("Syntax and API", self._syntax),
            ("Examples", self._examples),
            ("Pitfalls", self._pitfalls),
        ]
        number = 0
        for title, render in parts:
            body = render(outline)
            if not body:
                continue
            number += 1
            self.say(f"Writing section {number}: {title}.")
            yield f"## {number}. {title}\n\n{body}\n\n"
        self.say("Writing the summary.")
        yield self._summary(outline)
        questions = self._quiz(outline)
        if questions:  # a quiz heading over no question would only puzzle
            self.say(f"Writing the quiz ({plural(len(questions), 'question')}).")
            yield self._quiz_markdown(questions)
        yield self._sources(outline, knowledge_base)

    # -- parts -------------------------------------------------------------------

    def _opening(self, outline: Outline) -> str:
        subject = " ".join(outline.subject.split())
        lines = [f"# {markdown_text(_title_case(subject, outline))}", ""]
        if read_subject(subject).french:
            lines += [FRENCH_NOTE, ""]
        lines.append(
            f"A short course built from {plural(len(outline.sections), 'source')} of the knowledge base: "
            + ", ".join(f"*{markdown_text(_plain_title(s.title))}*" for s in outline.sections) + "."
        )
        if outline.missing:
            lines += ["", f"> **Only part of this subject is covered.** The knowledge base explains "
                      f"{', '.join(f'*{markdown_text(c)}*' for c in outline.covered)}, but has nothing on "
                      f"{', '.join(f'*{markdown_text(c)}*' for c in outline.missing)}: "
                      "that part is not in this course."]
        lines += ["", "## Learning objectives", "", "After this course you can:", ""]
        concepts = outline.covered or outline.terms
        named = " and ".join(f"*{markdown_text(c)}*" for c in concepts)
        verb, pronoun = ("is", "it") if len(concepts) == 1 else ("are", "them")
        if len(concepts) == 1 and _countable(concepts[0]):
            named = ("an " if concepts[0][:1].lower() in "aeio" else "a ") + named  # "what a *key function* is"
        lines.append(f"- explain what {named} {verb} and when to use {pronoun};")
        if outline.api:
            names = ", ".join(f"`{a.name}`" for a in outline.api[:4])
            lines.append(f"- use {names};")
        if outline.examples:
            lines.append("- read the examples and predict what they print;")
        lines.append("- answer the quiz at the end without looking back.")
        return "\n".join(lines) + "\n\n"

    def _what_it_is(self, outline: Outline) -> str:
        parts: list[str] = []
        last_doc = ""
        for block, doc_id in outline.explanations:
            parts.append(self._block(block))
            if doc_id != last_doc:
                last_doc = doc_id
        if parts:
            sources = sorted({d for _, d in outline.explanations})
            parts.append(f"*From {', '.join(f'`{d}`' for d in sources)}.*")
        return "\n\n".join(parts)

    def _syntax(self, outline: Outline) -> str:
        parts: list[str] = []
        for grammar, doc_id in outline.grammar[:2]:
            parts.append(f"The grammar {_source(doc_id)}:\n\n{_code_block(grammar, 'text')}")
        for api in outline.api:
            summary = f" — {markdown_text(api.summary)}" if api.summary else ""
            parts.append(f"- `{api.signature}`{summary} {_source(api.doc_id)}")
        return "\n\n".join(parts)

    def _examples(self, outline: Outline) -> str:
        parts: list[str] = []
        used: set[str] = set()
        for number, example in enumerate(outline.examples, 1):
            heading = _example_heading(example.heading)
            if heading in used:
                heading += ", continued"  # two examples of one section: headings that differ
            used.add(heading)
            parts.append(f"### Example {number}: {heading} {_source(example.doc_id)}")
            parts.append(_code_block(example.code, "python"))
            # Every example kept printed something (see ContentEnhancerAgent._run_examples).
            what = "It prints (its real output; the error is the point)" if example.shows_error else "It prints"
            parts.append(f"{what}:\n\n{_code_block(example.output, 'text')}")
        return "\n\n".join(parts)

    def _pitfalls(self, outline: Outline) -> str:
        return "\n".join(f"- {markdown_text(text)} {_source(doc_id)}" for text, doc_id in outline.pitfalls)

    @staticmethod
    def _block(block: Block) -> str:
        if block.kind == "table":
            return block.text  # already Markdown, cells escaped when parsed
        if block.kind == "literal":
            return _code_block(block.text, block.language if block.language in ("python", "text") else "text")
        bullet = re.match(r"^(-|\d+\.)\s+", block.text)
        if bullet:
            return bullet.group(0) + markdown_text(block.text[bullet.end() :])
        return markdown_text(block.text)

    def _summary(self, outline: Outline) -> str:
        lines = ["## Summary", ""]
        # A definition is often a key point too: each sentence once.
        points = dict.fromkeys(outline.definitions[:2] + outline.key_points)
        for sentence, doc_id in list(points)[:SUMMARY_POINTS]:
            lines.append(f"- {markdown_text(sentence)} {_source(doc_id)}")
        if outline.examples:
            them = "it" if len(outline.examples) == 1 else "them"
            lines.append(f"- Every example in this course ran as shown: run {them} yourself and change {them}.")
        if len(lines) == 2:
            for section in outline.sections:
                lines.append(f"- *{markdown_text(_plain_title(section.title))}* {_source(section.doc_id)}")
        return "\n".join(lines) + "\n\n"

    def _quiz(self, outline: Outline) -> list[tuple[str, str]]:
        """Questions a teacher would ask, each with an answer that can be checked."""
        questions: list[tuple[str, str]] = []
        outputs: set[str] = set()
        for example in self._predictable(outline.examples):
            if len(questions) == 2:
                break
            if example.output in outputs:
                continue  # two questions with one answer: the second teaches nothing
            outputs.add(example.output)
            questions.append((
                "What does this code print?\n\n" + _code_block(example.code, "python"),
                "It prints:\n\n" + _code_block(example.output, "text"),
            ))
        for api in self._askable(outline.api)[:2]:
            short = api.name.rsplit(".", 1)[-1]
            summary = re.sub(rf"\b{re.escape(short)}\b", "…", api.summary)
            questions.append((
                f"Which function, class or method is described this way: “{markdown_text(summary)}”?",
                f"`{api.name}` — `{api.signature}` {_source(api.doc_id)}",
            ))
        # "What is X?" only with a sentence that defines X itself (see ContentEnhancerAgent._definitions).
        answered: set[str] = set()
        if outline.definitions and outline.defined and len(questions) < 5:
            sentence, doc_id = outline.definitions[0]
            concept = outline.defined[0]
            answered.add(sentence)
            questions.append((
                f"In one sentence: what is *{markdown_text(concept)}*?",
                f"{markdown_text(sentence)} {_source(doc_id)}",
            ))
        pitfall = next(((t, d) for t, d in outline.pitfalls if not any(t in a or a in t for a in answered)), None)
        if pitfall and len(questions) < 5:
            text, doc_id = pitfall
            questions.append((
                f"What should you watch out for when using *{markdown_text((outline.covered or outline.terms)[0])}*?",
                f"{markdown_text(text)} {_source(doc_id)}",
            ))
        return questions

    @staticmethod
    def _predictable(examples: list[CourseExample]) -> list[CourseExample]:
        """Examples whose output a learner can predict: short, and the same on every run."""
        return [
            e for e in examples
            if e.stable and e.output and len(e.output) <= 300 and e.output.count("\n") < 8
            and len(e.code.splitlines()) <= 15
            and not re.search(r"0x[0-9a-f]{4,}|\d{4}-\d\d-\d\d|\d+\.\d{4,}", e.output)
        ]

    @staticmethod
    def _askable(api: list[ApiItem]) -> list[ApiItem]:
        return [a for a in api if 25 <= len(a.summary) <= 240]

    @staticmethod
    def _quiz_markdown(questions: list[tuple[str, str]]) -> str:
        lines = ["## Quiz", ""]
        for i, (question, _) in enumerate(questions, 1):
            lines.append(f"{i}. {_indent_continuation(question)}")
            lines.append("")
        lines += ["### Answers", ""]
        for i, (_, answer) in enumerate(questions, 1):
            lines.append(f"{i}. {_indent_continuation(answer)}")
            lines.append("")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _sources(outline: Outline, knowledge_base: str) -> str:
        lines = ["## Sources", ""]
        for source in outline.sources:
            lines.append(
                f"- `{source['id']}`: {markdown_text(_plain_title(str(source['title'])))} "
                f"(relevance {float(str(source['score'])):.2f})"
            )
        lines += ["", f"*Knowledge base: {markdown_text(knowledge_base)}.*"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _refusal(outline: Outline, knowledge_base: str) -> str:
        subject = markdown_text(" ".join(outline.subject.split()))
        if outline.kind == "small_talk":
            return (f"# Not a subject\n\n“{subject}” reads as small talk, so there is no course to write. "
                    f"This service writes Python courses from {markdown_text(knowledge_base)}: name a subject, "
                    "for example “generators”, “context managers” or “sorting with key functions”.\n")
        if outline.kind == "follow_up":
            return (f"# Not a subject\n\n“{subject}” reads as a follow-up to an earlier answer. Each request "
                    "here writes a new course and remembers no earlier one: name the subject itself, for "
                    "example “list comprehensions”.\n")
        lines = [
            f"# No course on “{subject}”",
            "",
            f"The knowledge base ({markdown_text(knowledge_base)}) has nothing that covers “{subject}”, "
            "so there is no course to write: an invented one would not be worth reading.",
        ]
        if outline.missing:
            lines += ["", f"Nothing in it explains: {', '.join(f'*{markdown_text(c)}*' for c in outline.missing)}."]
        if outline.nearby:
            lines += ["", "The closest things it does hold:", ""]
            lines += [f"- {markdown_text(_plain_title(t))}" for t in outline.nearby[:4]]
        return "\n".join(lines) + "\n"


def _indent_continuation(text: str) -> str:
    """Indent the lines after the first so they stay inside a numbered list item."""
    first, *rest = text.split("\n")
    return "\n".join([first, *("   " + line if line else "" for line in rest)])
