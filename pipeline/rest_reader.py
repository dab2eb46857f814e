"""The Python manual's reStructuredText, read with docutils into sections of headings, prose, code,
API entries and index terms.

Each section keeps its heading path (page title, then the headings above it), its anchor on
docs.python.org, its blocks in order, and the ``.. index::`` terms placed in it.  Nothing is
included from other files and no raw HTML passes (``file_insertion_enabled`` and
``raw_enabled`` are off).  The Sphinx directives are in ``rest_directives``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import docutils.core
import docutils.nodes as nodes

from ._text import Block, is_python_code
from .rest_directives import MEMBERS, UNQUALIFIED, api_entry, glossary, index_terms, module_marker, note_block, register

__all__ = ("ApiEntry", "PageSection", "ParsedPage", "parse_page")

# -- from the document tree to blocks ---------------------------------------------------


@dataclass(slots=True)
class ApiEntry:
    name: str  # qualified: "asyncio.create_task"
    signature: str  # "asyncio.create_task(coro, *, name=None, context=None)"
    objtype: str


@dataclass(slots=True)
class PageSection:
    heading: str
    blocks: list[Block] = field(default_factory=list)
    api: ApiEntry | None = None
    path: tuple[str, ...] = ()  # the headings above it, the page's title first
    anchor: str = ""  # its id on the page's HTML ("arbitrary-argument-lists", "str.split", "term-generator")
    terms: list[str] = field(default_factory=list)  # its ``.. index::`` entries
    labels: tuple[str, ...] = ()  # the ``.. _label:`` targets that name it (``:ref:`` points there)


@dataclass(frozen=True, slots=True)
class _Frame:
    heading: str
    path: tuple[str, ...]
    anchor: str
    api: ApiEntry | None = None
    labels: tuple[str, ...] = ()


@dataclass(slots=True)
class ParsedPage:
    title: str
    module: str  # the module the page documents, "" for the tutorial and such
    sections: list[PageSection]


_MD_TABLE_SPECIAL = re.compile(r"([|\\])")
_SIG_NAME = re.compile(r"^\s*(?:(?:async|class|await|abstract|static|classmethod)\s+)*([\w.]+)")


def _inline(node: nodes.Node) -> str:
    """A paragraph's inline content as the knowledge base stores prose: code in backticks, emphasis in stars."""
    out: list[str] = []
    for child in node.children if isinstance(node, nodes.Element) else [node]:
        if isinstance(child, nodes.Text):
            out.append(child.astext().replace("`", "'"))  # astext: no backslash-escape markers (NUL)
        elif isinstance(child, nodes.literal):
            code = " ".join(child.astext().split())
            out.append(f"``{code}``" if "`" in code else f"`{code}`")
        elif isinstance(child, (nodes.footnote_reference, nodes.citation_reference, nodes.system_message,
                                nodes.problematic, nodes.target)):
            if isinstance(child, nodes.problematic):
                out.append(child.astext())
            continue
        elif isinstance(child, nodes.strong):
            out.append(f"**{_inline(child)}**")
        elif isinstance(child, nodes.emphasis):
            out.append(f"*{_inline(child)}*")
        elif isinstance(child, nodes.title_reference):
            out.append(f"`{child.astext()}`")
        elif isinstance(child, nodes.Element):
            out.append(_inline(child))
    return " ".join("".join(out).split())


class _Walker:
    def __init__(self) -> None:
        self.module = ""
        self.page_module = ""
        self.classes: list[str] = []
        self.title = ""
        self.sections: list[PageSection] = []
        self.current = PageSection("")
        self.note = ""  # the label of the note or warning being read ("Note", "Warning")
        self.headings: tuple[str, ...] = ()  # the headings of the sections being read
        self._entries: set[int] = set()
        self.pending: list[str] = []  # index terms met before the section they point at has started

    def _frame(self) -> _Frame:
        return _Frame(self.current.heading, self.current.path, self.current.anchor, self.current.api,
                      self.current.labels)

    def _start(self, frame: _Frame) -> None:
        carried: list[str] = []
        api = self.current.api
        if self.current.blocks or (api is not None and id(api) not in self._entries):
            self.sections.append(self.current)
            if api is not None:
                self._entries.add(id(api))  # text after a nested entry is its own section, not the entry again
        else:
            carried = self.current.terms  # a section left empty: its terms are for what follows
        self.current = PageSection(frame.heading, api=frame.api, path=frame.path, anchor=frame.anchor,
                                   labels=frame.labels)
        self.current.terms, self.pending = [*carried, *self.pending], []

    def add(self, block: Block) -> None:
        if self.note and block.kind == "prose":
            block = Block(block.text, "note")
        if self.pending:
            self.current.terms += self.pending
            self.pending = []
        self.current.blocks.append(block)

    def walk(self, node: nodes.Node, depth: int = 0) -> None:
        if isinstance(node, nodes.section):
            title = node.next_node(nodes.title)
            heading = _inline(title).replace(" --- ", " — ") if title is not None else ""
            if not self.title:
                self.title = heading
            saved = self._frame()
            plain = title.astext() if title is not None else ""
            enclosing = self.headings
            self.headings = (*enclosing, heading)
            ids: list[str] = [str(i) for i in node["ids"]]
            labels = tuple(i for i in ids if i != nodes.make_id(plain))
            self._start(_Frame(heading, self.headings, nodes.make_id(plain), labels=labels))
            for child in node.children:
                if not isinstance(child, nodes.title):
                    self.walk(child, depth + 1)
            self.headings = enclosing
            self._start(saved)  # text after a sub-section belongs to the enclosing one again
            return
        if isinstance(node, index_terms):
            self.pending += [str(t) for t in node["terms"]]
            return
        if isinstance(node, module_marker):
            self.module = str(node["name"])
            self.page_module = self.page_module or self.module
            return
        if isinstance(node, api_entry):
            self._api(node, depth)
            return
        if isinstance(node, glossary):
            saved = self._frame()
            for item in node.findall(nodes.definition_list_item):
                terms = [_inline(t) for t in item.findall(nodes.term)]
                term = item.next_node(nodes.term)
                anchor = "term-" + nodes.make_id(term.astext()) if term is not None else ""
                self._start(_Frame(", ".join(terms), (*saved.path, ", ".join(terms)), anchor))
                definition = item.next_node(nodes.definition)
                if definition is not None:
                    for child in definition.children:
                        self.walk(child, depth + 1)
            self._start(saved)
            return
        if isinstance(node, note_block):
            # Everything a note holds is the note (a list of cases, a paragraph after it), labelled once.
            outer, self.note = self.note, str(node["label"])
            start = len(self.current.blocks)
            for child in node.children:
                self.walk(child, depth + 1)
            added = self.current.blocks[start:]
            if not added:
                self.add(Block(f"**{self.note}.**", "note"))
            elif not added[0].literal:
                added[0] = Block(f"**{self.note}:** {added[0].text}", "note")
                self.current.blocks[start:] = added
            self.note = outer
            return
        if isinstance(node, nodes.paragraph):
            text = _inline(node)
            if text:
                self.add(Block(text, "prose"))
            return
        if isinstance(node, (nodes.literal_block, nodes.doctest_block)):
            self._code(node)
            return
        if isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
            ordered = isinstance(node, nodes.enumerated_list)
            for number, list_item in enumerate(node.children, 1):
                self._item(list_item, f"{number}." if ordered else "-", depth)
            return
        if isinstance(node, nodes.definition_list):
            for entry in node.children:
                term = entry.next_node(nodes.term)
                definition = entry.next_node(nodes.definition)
                text = " ".join(_inline(p) for p in definition.findall(nodes.paragraph)) if definition else ""
                self.add(Block(f"- **{_inline(term) if term else ''}**: {text}".rstrip(": "), "prose"))
                if definition is not None:
                    for code in definition.findall(nodes.literal_block):
                        self._code(code)
            return
        if isinstance(node, (nodes.field_list, nodes.docinfo)):
            return  # a page's metadata (author, release), not its teaching
        if isinstance(node, nodes.table):
            self._table(node)
            return
        if isinstance(node, nodes.line_block):
            self.add(Block(" ".join(_inline(line) for line in node.findall(nodes.line)), "prose"))
            return
        if isinstance(node, nodes.Admonition):
            label = type(node).__name__.capitalize()
            for child in node.children:
                if isinstance(child, nodes.paragraph):
                    self.add(Block(f"**{label}:** {_inline(child)}", "note"))
            return
        if isinstance(node, (nodes.comment, nodes.system_message, nodes.target, nodes.substitution_definition,
                             nodes.footnote, nodes.citation, nodes.raw, nodes.image, nodes.figure, nodes.rubric,
                             nodes.title, nodes.transition, nodes.topic)):
            return
        if isinstance(node, nodes.Element):
            for child in node.children:
                self.walk(child, depth + 1)

    def _item(self, item: nodes.Node, marker: str, depth: int) -> None:
        if not isinstance(item, nodes.Element):
            return
        first = True
        for child in item.children:
            if isinstance(child, nodes.paragraph) and first:
                self.add(Block(f"{marker} {_inline(child)}", "prose"))
                first = False
            else:
                self.walk(child, depth + 1)

    def _code(self, node: nodes.Element) -> None:
        text = node.astext().rstrip()
        if not text.strip():
            return
        language = str(node.get("language", "") or "")
        if text.lstrip().startswith(">>>"):
            language = "pycon"
        elif language in ("", "python", "python3", "py", "default"):
            language = "python" if is_python_code(text) else "text"
        self.add(Block(text, "literal", language))

    def _table(self, node: nodes.table) -> None:
        rows: list[list[str]] = []
        header_rows = 0
        for part in node.findall(lambda n: isinstance(n, (nodes.thead, nodes.tbody))):
            for row in part.findall(nodes.row):
                cells = []
                for entry in row.findall(nodes.entry):
                    texts = [_inline(p) for p in entry.findall(nodes.paragraph)] or [entry.astext()]
                    cells.append(_MD_TABLE_SPECIAL.sub(r"\\\1", " ".join(" ".join(texts).split())))
                rows.append(cells)
                if isinstance(part, nodes.thead):
                    header_rows += 1
        if not rows:
            return
        width = max(len(r) for r in rows)
        rows = [r + [""] * (width - len(r)) for r in rows]
        head = rows[0] if header_rows else [""] * width
        body = rows[1:] if header_rows else rows
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * width]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        self.add(Block("\n".join(lines), "table"))

    def _api(self, node: api_entry, depth: int) -> None:
        objtype = str(node["objtype"])
        signatures = [str(s) for s in node["signatures"]]
        qualified = [self._qualify(s, objtype) for s in signatures]
        first = qualified[0] if qualified else ""
        match = _SIG_NAME.match(first)
        name = match.group(1) if match else first
        saved = self._frame()
        self._start(_Frame(first, (*self.headings, name), name, ApiEntry(name, first, objtype)))
        if len(qualified) > 1:
            self.add(Block("\n".join(qualified), "literal", "text"))
        is_class = objtype in ("class", "exception")
        if is_class:
            self.classes.append(name)
        for child in node.children:
            self.walk(child, depth + 1)
        if is_class:
            self.classes.pop()
        self._start(saved)

    def _qualify(self, signature: str, objtype: str) -> str:
        """The signature with its name qualified as Sphinx shows it: module, then class."""
        signature = " ".join(signature.split())
        match = _SIG_NAME.match(signature)
        if match is None or objtype in UNQUALIFIED:
            return signature
        name = match.group(1)
        prefix = ""
        if self.classes and objtype in MEMBERS:
            owner = self.classes[-1]
            if not name.startswith(owner.rsplit(".", 1)[-1] + "."):
                prefix = owner + "."
            elif self.module and not name.startswith(self.module + "."):
                prefix = self.module + "."
        elif self.module and not name.startswith(self.module + ".") and name != self.module:
            prefix = self.module + "."
        return signature[: match.start(1)] + prefix + signature[match.start(1) :]

    def finish(self) -> list[PageSection]:
        self._start(_Frame("", (), ""))
        return self.sections


def parse_page(source: str) -> ParsedPage:
    """One page of the manual as a title, the module it documents, and its sections of blocks."""
    register(source)
    tree = docutils.core.publish_doctree(
        source,
        settings_overrides={
            "report_level": 5, "halt_level": 5, "warning_stream": False, "file_insertion_enabled": False,
            "raw_enabled": False, "input_encoding": "unicode", "syntax_highlight": "none",
            "doctitle_xform": False, "sectsubtitle_xform": False, "smart_quotes": False,
        },
    )
    walker = _Walker()
    walker.walk(tree)
    sections = walker.finish()
    return ParsedPage(walker.title, walker.page_module, sections)
