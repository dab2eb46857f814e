"""Users' own documents: Markdown, reStructuredText, text and HTML files, cut into sections at
their headings (``python -m pipeline.ingest``)."""

from __future__ import annotations

import html
import html.parser
import re
from collections.abc import Iterator
from pathlib import Path

from .corpus import Document, Section

__all__ = ("SUPPORTED_SUFFIXES", "load_file", "load_folder")

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".rst", ".txt", ".text", ".html", ".htm"})

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _markdown_sections(text: str, fallback: str) -> tuple[str, list[Section]]:
    """Split Markdown at its headings (never inside fenced code)."""
    title = ""
    sections: list[Section] = []
    heading, body = fallback, list[str]()
    fence = ""
    for line in text.splitlines():
        marker = line.strip()[:3]
        if marker in ("```", "~~~") and (not fence or marker == fence):
            fence = "" if fence else marker
        match = None if fence else _MD_HEADING.match(line)
        if match:
            if "".join(body).strip():
                sections.append(Section(heading, "\n".join(body)))
            heading, body = match.group(2), []
            if not title and len(match.group(1)) == 1:
                title = heading
            continue
        body.append(line)
    if "".join(body).strip():
        sections.append(Section(heading, "\n".join(body)))
    return title or fallback, sections


def _rst_sections(text: str, fallback: str) -> tuple[str, list[Section]]:
    lines = text.splitlines()
    title = ""
    sections: list[Section] = []
    heading, body = fallback, list[str]()
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"([=\-~^*#+])\1{2,}", nxt.strip()) and len(nxt.strip()) >= len(line.strip()):
            if "".join(body).strip():
                sections.append(Section(heading, "\n".join(body)))
            heading, body = line.strip(), []
            title = title or heading
            i += 2
            continue
        body.append(line)
        i += 1
    if "".join(body).strip():
        sections.append(Section(heading, "\n".join(body)))
    return title or fallback, sections


class _HTMLText(html.parser.HTMLParser):
    """HTML to the plain text the indexer understands: headings, paragraphs, <pre> kept verbatim."""

    _BLOCKS = frozenset({"p", "div", "li", "br", "tr", "section", "article", "dd", "dt", "blockquote"})
    _SKIP = frozenset({"script", "style", "nav", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.sections: list[Section] = []
        self._heading = ""
        self._body: list[str] = []
        self._in_heading = False
        self._heading_text: list[str] = []
        self._in_title = False
        self._pre = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in {"h1", "h2", "h3", "h4"}:
            self._flush()
            self._in_heading, self._heading_text = True, []
        elif tag == "pre":
            self._pre += 1
            self._body.append("\n\n```\n")
        elif tag in self._BLOCKS:
            self._body.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in {"h1", "h2", "h3", "h4"} and self._in_heading:
            self._in_heading = False
            self._heading = " ".join("".join(self._heading_text).split())
            if tag == "h1" and not self.title:
                self.title = self._heading
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
            self._body.append("\n```\n\n")
        elif tag in self._BLOCKS:
            self._body.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title = self.title or data.strip()
        elif self._in_heading:
            self._heading_text.append(data)
        elif self._pre:
            self._body.append(data.replace("```", "` ` `"))
        elif data.strip():
            lead = " " if data[:1].isspace() else ""
            tail = " " if data[-1:].isspace() else ""
            self._body.append(lead + " ".join(data.split()) + tail)
        elif data:
            self._body.append(" ")

    def _flush(self) -> None:
        text = "".join(self._body)
        if text.strip():
            self.sections.append(Section(self._heading, text))
        self._body = []

    def close(self) -> None:
        super().close()
        self._flush()


def load_file(path: Path, root: Path) -> Document | None:
    """Read one Markdown, reStructuredText, text or HTML file as a document."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    relative = path.relative_to(root).as_posix()
    fallback = path.stem.replace("_", " ").replace("-", " ")
    if suffix in {".md", ".markdown"}:
        title, sections = _markdown_sections(text, fallback)
    elif suffix == ".rst":
        title, sections = _rst_sections(text, fallback)
    elif suffix in {".html", ".htm"}:
        parser = _HTMLText()
        parser.feed(text)
        parser.close()
        title = html.unescape(parser.title) or fallback
        sections = [Section(s.heading or title, s.text) for s in parser.sections]
    else:
        title, sections = fallback, [Section(fallback, text)]
    if not sections:
        return None
    return Document(
        id=f"file:{root.name}/{relative}",
        title=title,
        kind="file",
        keywords=fallback,
        sections=sections,
    )


def load_folder(root: Path) -> Iterator[Document]:
    root = root.resolve()
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    base = root.parent if root.is_file() else root
    for path in paths:
        document = load_file(path, base)
        if document is not None:
            yield document
