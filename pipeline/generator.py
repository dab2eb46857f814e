"""CourseGeneratorAgent: writes the course in Markdown, section by section, from the outline.

Everything in the course comes from the knowledge base: explanations and
examples are the sources' own words and code, and each quiz answer is cut from
a source sentence, so it is right according to the sources by construction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from ._text import Block, is_python_code
from .enhancer import Outline, OutlineSection

__all__ = ("CourseGeneratorAgent", "markdown_text")

SUMMARY_POINTS = 6
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")
# Sphinx's text output quotes code as "name" or "__enter__()": such a quoted
# single token becomes a code span.
_QUOTED_CODE = re.compile(r"\"([^\"\s]{1,60})\"")
_CLOZE_TERM = re.compile(r"\"([A-Za-z_][\w.]*(?:\(\))?)\"")


# Sphinx's text output keeps *emphasis* and **strong** markers: they stay emphasis.
_EMPHASIS = re.compile(r"(?<![\w*])(?P<mark>\*\*?)(?P<em>[A-Za-z0-9][^*\n]{0,80}?)(?P=mark)(?![\w*])")
_INLINE = re.compile(f"{_QUOTED_CODE.pattern}|{_EMPHASIS.pattern}")


def _escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def markdown_text(text: str) -> str:
    """Prose from a document as safe Markdown: code spans for quoted code, everything else escaped.

    Escaping matters twice: an identifier like ``__init__`` must not turn bold,
    and nothing from a document may reach a renderer as HTML.
    """
    out: list[str] = []
    last = 0
    for match in _INLINE.finditer(text):
        out.append(_escape(text[last : match.start()]))
        if match.group(1) is not None:
            out.append(_code_span(match.group(1)))
        else:
            marker, inner = match.group("mark"), match.group("em")
            out.append(f"{marker}{_escape(inner)}{marker}")
        last = match.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def _code_span(code: str) -> str:
    ticks = "``" if "`" in code else "`"
    pad = " " if code.startswith("`") or code.endswith("`") else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"


def _code_block(code: str, language: str) -> str:
    fence = "~~~~" if "```" in code else "```"
    return f"{fence}{language}\n{code}\n{fence}\n"


def _plain_title(title: str) -> str:
    return title.replace("`", "")


class CourseGeneratorAgent:
    """Writes the Markdown course and hands it over one section at a time."""

    name = "CourseGeneratorAgent"

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.say = say

    def write(self, outline: Outline, knowledge_base: str) -> Iterator[str]:
        """Yield the course as Markdown pieces, each a complete part (title, a section, the quiz …)."""
        if not outline.known:
            self.say("Writing a short answer: the subject is not covered.")
            yield self._unknown(outline, knowledge_base)
            return
        subject = " ".join(outline.subject.split())
        self.say("Writing the title and learning objectives.")
        yield self._opening(subject, outline)
        for number, section in enumerate(outline.sections, 1):
            self.say(f"Writing section {number}/{len(outline.sections)}: {section.title}")
            yield self._section(number, section)
        self.say("Writing the summary.")
        yield self._summary(outline)
        questions = self._quiz(outline)
        self.say(f"Writing the quiz ({len(questions)} questions).")
        yield self._quiz_markdown(questions)
        yield self._sources(outline, knowledge_base)

    # -- parts -------------------------------------------------------------------

    def _opening(self, subject: str, outline: Outline) -> str:
        lines = [f"# {markdown_text(subject[:1].upper() + subject[1:])}", ""]
        lines.append(
            f"A short course built from {len(outline.sections)} sources of the knowledge base: "
            + ", ".join(f"*{markdown_text(_plain_title(s.title))}*" for s in outline.sections)
            + "."
        )
        lines += ["", "## Learning objectives", ""]
        lines.append("After this course you can:")
        lines.append("")
        for section in outline.sections:
            lines.append(f"- {self._objective(section)}")
        if any(s.examples for s in outline.sections):
            lines.append("- read the examples and predict what they do;")
        lines.append("- answer the quiz at the end without looking back.")
        return "\n".join(lines) + "\n\n"

    @staticmethod
    def _objective(section: OutlineSection) -> str:
        kind, _, name = section.doc_id.partition(":")
        if kind == "module":
            return f"use the `{name}` module for what it is made for;"
        return f"explain *{markdown_text(_plain_title(section.title))}*;"

    def _section(self, number: int, section: OutlineSection) -> str:
        parts = [f"## {number}. {markdown_text(_plain_title(section.title))}", ""]
        for block in section.paragraphs:
            parts.append(self._block(block))
        parts.append(f"*Source: `{section.doc_id}`*")
        return "\n\n".join(p for p in parts if p) + "\n\n"

    @staticmethod
    def _block(block: Block) -> str:
        if block.literal:
            return _code_block(block.text, "python" if is_python_code(block.text) else "text").rstrip("\n")
        text = block.text
        bullet = re.match(r"^(\*|-|\d+\.)\s+", text)
        if bullet:
            return bullet.group(0) + markdown_text(text[bullet.end() :])
        return markdown_text(text)

    def _summary(self, outline: Outline) -> str:
        lines = ["## Summary", ""]
        for sentence, doc_id in (outline.definitions[:2] + outline.key_points)[:SUMMARY_POINTS]:
            lines.append(f"- {markdown_text(sentence)} (`{doc_id}`)")
        if len(lines) == 2:
            for section in outline.sections:
                lines.append(f"- *{markdown_text(_plain_title(section.title))}* (`{section.doc_id}`)")
        return "\n".join(lines) + "\n\n"

    def _quiz(self, outline: Outline) -> list[tuple[str, str]]:
        """Questions with their answers, all taken from the sources."""
        questions: list[tuple[str, str]] = []
        used: set[str] = set()
        for sentence, doc_id in outline.definitions + outline.key_points:
            terms = _CLOZE_TERM.findall(sentence)
            candidates = [t for t in terms if sentence.count(f'"{t}"') == 1 and t not in used]
            if not candidates:
                continue
            term = max(candidates, key=len)
            used.add(term)
            blanked = sentence.replace(f'"{term}"', "`_____`", 1)
            questions.append(
                (f"Fill in the blank (from `{doc_id}`): {markdown_text_keep_blank(blanked)}", f"`{term}`")
            )
            if len(questions) == 3:
                break
        if len(outline.sections) >= 2:
            section = outline.sections[1] if len(questions) % 2 else outline.sections[0]
            quote = next(
                (b.text for b in section.paragraphs if not b.literal and 40 <= len(b.text) <= 300), None
            )
            if quote:
                options = ", ".join(f"`{s.doc_id}`" for s in outline.sections)
                questions.append(
                    (
                        f"Which source says: “{markdown_text(quote)}”? Choose one of {options}.",
                        f"`{section.doc_id}`",
                    )
                )
        examples = [(s, e) for s in outline.sections for e in s.examples if len(e.splitlines()) <= 12]
        if examples and len(questions) < 5:
            section, example = examples[0]
            questions.append(
                (
                    "Which section of this course shows this code?\n\n" + _code_block(example, "python").rstrip("\n"),
                    f"Section *{markdown_text(_plain_title(section.title))}* (`{section.doc_id}`)",
                )
            )
        return questions

    @staticmethod
    def _quiz_markdown(questions: list[tuple[str, str]]) -> str:
        lines = ["## Quiz", ""]
        for i, (question, _) in enumerate(questions, 1):
            lines.append(f"{i}. {_indent_continuation(question)}")
            lines.append("")
        lines += ["### Answers", ""]
        for i, (_, answer) in enumerate(questions, 1):
            lines.append(f"{i}. {answer}")
        return "\n".join(lines) + "\n\n"

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
    def _unknown(outline: Outline, knowledge_base: str) -> str:
        subject = " ".join(outline.subject.split())
        lines = [
            f"# No course on “{markdown_text(subject)}”",
            "",
            f"The knowledge base ({markdown_text(knowledge_base)}) has nothing that covers "
            f"“{markdown_text(subject)}”, so there is no course to write: an invented one would "
            "not be worth reading.",
        ]
        if outline.nearby:
            lines += ["", "Nearby subjects it does cover:", ""]
            lines += [f"- {markdown_text(_plain_title(t))}" for t in outline.nearby]
        return "\n".join(lines) + "\n"


def markdown_text_keep_blank(text: str) -> str:
    """``markdown_text`` that leaves the quiz's `_____` blank as a code span."""
    head, sep, tail = text.partition("`_____`")
    return markdown_text(head) + (sep + markdown_text(tail) if sep else "")


def _indent_continuation(text: str) -> str:
    """Indent the lines after the first so they stay inside a numbered list item."""
    first, *rest = text.split("\n")
    return "\n".join([first, *("   " + line if line else "" for line in rest)])
