"""CourseGeneratorAgent: writes the course in Markdown, in teaching order, from the lesson.

What it is, the syntax, the sections' own paragraphs and examples (each one ran: its real output
is shown under it, marked when it varies from run to run), the pitfalls the manual states, a
summary, a quiz, the sources with their links.  The manual's text is quoted whole; what the
course says itself is in the learner's language (``phrases``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator

from ._text import Block
from .enhancer import CourseExample, LessonItem, Outline
from .knowledge import plural
from .phrases import phrase

__all__ = ("CourseGeneratorAgent", "markdown_text")

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")
# Code as the sources write it: ``double`` or `single` backticks (the manual, reST in
# docstrings), or Sphinx's text output's "quoted" single tokens (pydoc topics).
_CODE = re.compile(r"``(?P<rst>[^`\n]+?)``|`(?P<md>[^`\n]+?)`|\"(?P<quoted>[^\"\s]{1,60})\"")
_EMPHASIS = re.compile(r"(?<![\w*])(?P<mark>\*\*?)(?P<em>[A-Za-z0-9][^*\n]{0,80}?)(?P=mark)(?![\w*])")
_INLINE = re.compile(f"{_CODE.pattern}|{_EMPHASIS.pattern}")


def _escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


# "(see tut-tuples)": a cross-reference whose target is a label of the manual, not a place a reader can go.
_SEE_LABEL = re.compile(r"\s*\((?:see|cf\.)\s+⸨[^⸨⸩|]+⸩\)|\s*\((?:see|cf\.)\s+[a-z0-9]+(?:[-.][a-z0-9]+)+\)", re.I)
# "See faq-cache-method-calls": a pointer to a page the knowledge base does not hold.
_SEE_UNRESOLVED = re.compile(r"\s*\b[Ss]ee (?:also )?⸨[^⸨⸩|]+⸩\.?")
# A resolved cross-reference: ⸨label|heading|url⸩ (see ``retriever``); an unresolved one shows its label.
_REFERENCE = re.compile(r"⸨(?:[^⸨⸩|]+)\|([^⸨⸩|]+)\|([^⸨⸩|]*)⸩|⸨([^⸨⸩|]+)⸩")


def _reference(match: re.Match[str]) -> str:
    heading, url, label = match.group(1), match.group(2), match.group(3)
    if label is not None:
        return _escape(label.replace("-", " "))
    shown = _escape(heading.replace("`", ""))
    return f"[{shown}]({url})" if url.startswith("https://") else f"*{shown}*"


def markdown_text(text: str) -> str:
    """Prose from a document as safe Markdown: code spans for code, emphasis kept, everything else escaped.

    Escaping matters twice: an identifier like ``__init__`` must not turn bold,
    and nothing from a document may reach a renderer as HTML.
    """
    out: list[str] = []
    last = 0
    text = _SEE_UNRESOLVED.sub("", _SEE_LABEL.sub("", text))
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
    return _REFERENCE_ESCAPED.sub(_link, "".join(out))


def _link(match: re.Match[str]) -> str:
    reference = _REFERENCE.fullmatch(_unescape(match.group(0)))
    return _reference(reference) if reference else match.group(0)


_REFERENCE_ESCAPED = re.compile(r"⸨[^⸨⸩]*⸩")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


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


def _page(doc_id: str) -> str:
    return doc_id.removeprefix("manual:")


_ASKED_QUESTION = re.compile(r"^\s*(?:how|what|why|when|which|where|can|should|comment|pourquoi|quelle?s?)\b|\?\s*$",
                             re.I)
_PLURAL_SUBJECT = re.compile(r"(?:s|x|es)\b|\band\b|\bet\b|\bles\b", re.I)


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
        fr = outline.french
        self.say("Writing the title and learning objectives.")
        yield self._opening(outline)
        parts = [
            (phrase("what_it_is", fr), self._what_it_is),
            (phrase("syntax", fr), self._syntax),
            (phrase("lesson", fr), self._lesson),
            (phrase("pitfalls", fr), self._pitfalls),
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
        if outline.quiz:  # a quiz heading over no question would only puzzle
            self.say(f"Writing the quiz ({plural(len(outline.quiz), 'question')}).")
            yield self._quiz_markdown(outline)
        yield self._sources(outline, knowledge_base)

    # -- parts -------------------------------------------------------------------

    def _opening(self, outline: Outline) -> str:
        fr = outline.french
        subject = " ".join(outline.subject.split())
        title = course_title(subject)
        lines = [f"# {markdown_text(title)}", ""]
        if fr:
            lines += [phrase("french_note", fr), ""]
        teaching = [p for p in outline.sections if p.role == "teaching"] or outline.sections
        names = ", ".join(f"*{markdown_text(_plain_title(p.section.name))}* (`{_page(p.doc_id)}`)" for p in teaching)
        count = plural(len(teaching), phrase("section", fr), phrase("sections", fr))
        lines.append(phrase("built_from", fr, n=count, names=names))
        if outline.missing:
            missing = ", ".join(f"*{markdown_text(c)}*" for c in outline.missing)
            lines += ["", "> " + phrase("partial", fr, missing=missing)]
        lines += ["", f"## {phrase('objectives', fr)}", "", phrase("after", fr), ""]
        named = f"*{markdown_text(title[:1].lower() + title[1:] if title[:2].istitle() else title)}*"
        many = bool(_PLURAL_SUBJECT.search(subject))
        if _ASKED_QUESTION.search(subject):  # "how do I copy a list?" is a question, not a thing to explain
            asked = subject.rstrip("?. ") + (" ?" if fr else "?")
            lines.append("- " + phrase("obj_answer", fr, question=markdown_text(asked)))
        elif fr:
            lines.append(f"- expliquer {'ce que sont' if many else 'ce qu’est'} {named} et quand s’en servir ;")
        else:
            lines.append("- " + phrase("obj_explain", fr, named=named, verb="are" if many else "is",
                                       pronoun="them" if many else "it"))
        if outline.api:
            many_api = len(outline.api) > 1
            lines.append("- " + phrase("obj_use", fr, names=", ".join(f"`{a.name}`" for a in outline.api[:4]),
                                       their="their" if many_api else "its", leurs="leurs" if many_api else "sa",
                                       s="s" if many_api else ""))
        if outline.examples:
            lines.append("- " + phrase("obj_examples", fr))
        if outline.pitfalls:
            lines.append("- " + phrase("obj_pitfalls", fr))
        if outline.quiz:
            lines.append("- " + phrase("obj_quiz", fr))
        return "\n".join(lines) + "\n\n"

    def _what_it_is(self, outline: Outline) -> str:
        if not outline.what_it_is or outline.what_source is None:
            return ""
        parts = [self._block(b) for b in outline.what_it_is]
        source = outline.what_source
        where = "the glossary" if source.kind == "glossary" else f"*{markdown_text(_plain_title(source.name))}*"
        if outline.french:
            where = "du glossaire" if source.kind == "glossary" else f"de {where}"
        parts.append(phrase("from", outline.french, source=where + f" (`{_page(source.doc_id)}`)"))
        return "\n\n".join(parts)

    def _syntax(self, outline: Outline) -> str:
        parts: list[str] = []
        for api in outline.api:
            parts.append(_code_block(api.signature, "text"))
            if api.summary:
                parts.append(f"{markdown_text(api.summary)} (`{_page(api.doc_id)}`)")
        return "\n\n".join(parts)

    def _lesson(self, outline: Outline) -> str:
        parts: list[str] = []
        for part in outline.sections:
            if not part.items:
                continue
            heading = _code_span(part.section.api_name) if part.section.api_name else markdown_text(
                _plain_title(part.section.name))
            parts.append(f"### {heading} (`{_page(part.doc_id)}`)")
            parts += [self._item(item, outline) for item in part.items]
        if len(outline.examples) < 2:  # said, rather than a course that looks complete
            fr = outline.french
            count = phrase("examples_count", fr, n=1) if outline.examples else phrase("no_example", fr)
            parts.append(f"*{phrase('too_little', fr, count=count)}*")
        return "\n\n".join(p for p in parts if p)

    def _item(self, item: LessonItem, outline: Outline) -> str:
        example = item.example
        if example is not None:
            return self._example(example, outline.french)
        if item.block.literal:
            code = _code_block(item.block.text, "text")
            shown_as_session = item.block.language in ("python", "pycon")
            return code + (f"\n\n*{phrase('not_run', outline.french, reason=markdown_text(item.note))}*"
                           if shown_as_session and item.note else "")
        return self._block(item.block)

    @staticmethod
    def _example(example: CourseExample, french: bool) -> str:
        lines = [f"**{phrase('example', french)} {example.number}.**"
                 + (f" {phrase('continues', french, n=example.continues)}" if example.continues else "")]
        lines.append(_code_block(example.code, "python"))
        if not example.output.strip():
            imports = all(re.match(r"(?:from|import)\s", line) for line in example.code.splitlines() if line.strip())
            lines.append(phrase("prints_nothing_import" if imports else "prints_nothing", french))
        else:
            key = f"prints_{example.varies}" if example.varies else "prints_error" if example.shows_error else "prints"
            lines.append(f"{phrase(key, french)}\n\n{_code_block(example.output, 'text')}")
        return "\n\n".join(lines)

    def _pitfalls(self, outline: Outline) -> str:
        parts: list[str] = []
        for pitfall in outline.pitfalls:
            parts.append(f"{markdown_text(pitfall.text)} (`{_page(pitfall.source.doc_id)}`)")
            if pitfall.code:
                parts.append(_code_block(pitfall.code, "python"))
                parts.append("*What this code prints is a question of the quiz.*" if not outline.french else
                             "*Ce qu'affiche ce code est une question du quiz.*")
        return "\n\n".join(parts)

    @staticmethod
    def _block(block: Block) -> str:
        if block.kind == "table":
            return block.text  # already Markdown, cells escaped when parsed
        if block.kind == "literal":
            return _code_block(block.text, "text")
        if block.kind == "heading":
            return f"**{markdown_text(block.text)}**"
        bullet = re.match(r"^(-|\d+\.)\s+", block.text)
        if bullet:
            return bullet.group(0) + markdown_text(block.text[bullet.end() :])
        return markdown_text(block.text)

    def _summary(self, outline: Outline) -> str:
        lines = [f"## {phrase('summary', outline.french)}", ""]
        lines += [f"- {markdown_text(point)}" for point in outline.key_points]
        if outline.examples:
            lines.append(f"- {phrase('summary_examples', outline.french)}")
        if len(lines) == 2:
            lines += [f"- *{markdown_text(_plain_title(p.section.name))}* (`{_page(p.doc_id)}`)"
                      for p in outline.sections]
        return "\n".join(lines) + "\n\n"

    @staticmethod
    def _quiz_markdown(outline: Outline) -> str:
        fr = outline.french
        lines = [f"## {phrase('quiz', fr)}", ""]
        for i, (question, _) in enumerate(outline.quiz, 1):
            lines += [f"{i}. {_indent_continuation(question)}", ""]
        lines += [f"### {phrase('answers', fr)}", ""]
        for i, (_, answer) in enumerate(outline.quiz, 1):
            lines += [f"{i}. {_indent_continuation(answer)}", ""]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _sources(outline: Outline, knowledge_base: str) -> str:
        lines = [f"## {phrase('sources', outline.french)}", ""]
        for source in outline.sources:
            title = markdown_text(_plain_title(str(source["title"])))
            url = str(source.get("url") or "")
            line = f"- [{title}]({url})" if url else f"- {title} (`{source['id']}`)"
            if url and outline.french:
                line += f" · [{phrase('french_page', True)}]({url.replace('/3/', '/fr/3/', 1)})"
            lines.append(line)
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
            lines += ["", "No heading, index entry or API name of it speaks of: "
                      + ", ".join(f"*{markdown_text(c)}*" for c in outline.missing) + "."]
        if outline.nearby:
            lines += ["", "The closest things it does hold:", ""]
            lines += [f"- {markdown_text(_plain_title(t))}" for t in outline.nearby[:4]]
        return "\n".join(lines) + "\n"


def _indent_continuation(text: str) -> str:
    """Indent the lines after the first so they stay inside a numbered list item."""
    first, *rest = text.split("\n")
    return "\n".join([first, *("   " + line if line else "" for line in rest)])
