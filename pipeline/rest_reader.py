"""The Python manual's reStructuredText, read with docutils into headings, prose, code and tables.

The manual is written for Sphinx, whose directives (``.. function::``) and roles
(``:func:``) plain docutils does not know.  They are registered here with the
meaning a reader needs: an API entry keeps its qualified name and signature
(``asyncio.create_task(coro, *, name=None, context=None)``), a cross-reference
becomes the code it names, a doctest stays code, and what only serves the
HTML build (index entries, toctrees, audit events, version notes, "see also"
link lists, footnotes) is dropped.  Nothing is included from other files and
no raw HTML passes (``file_insertion_enabled`` and ``raw_enabled`` are off).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import docutils.core
import docutils.nodes as nodes
from docutils.parsers.rst import Directive, directives, roles

from ._text import Block, is_python_code

__all__ = ("ApiEntry", "ParsedPage", "parse_page")

# -- nodes of our own ---------------------------------------------------------------


class api_entry(nodes.Element):
    """``.. function::`` and its kin: ``objtype``, ``signatures``, and the description as children."""


class module_marker(nodes.Element):
    """``.. module::`` / ``.. currentmodule::``: the module later API names belong to."""


class glossary(nodes.Element):
    """``.. glossary::``: each term becomes a section of its own, so that it is found by name."""


class note_block(nodes.Element):
    """A note, warning or CPython detail: kept, and marked, because pitfalls live there."""


_API_TYPES = (
    "function", "method", "class", "attribute", "data", "exception", "decorator", "decoratormethod",
    "classmethod", "staticmethod", "coroutinemethod", "coroutinefunction", "abstractmethod",
    "awaitablefunction", "awaitablemethod", "describe", "object", "opcode", "cmdoption", "option",
    "envvar", "pdbcommand", "property",
)
_DROPPED = (
    "index", "sectionauthor", "moduleauthor", "highlight", "toctree", "tabularcolumns", "include",
    "audit-event", "audit-event-table", "availability", "program", "only", "testsetup", "testcleanup",
    "literalinclude", "miscnews", "limited-api-list", "versionadded", "versionchanged", "seealso",
    "impl-detail", "rubric", "contents", "raw", "image", "figure", "productionlist-hidden", "autoclass",
    "autofunction", "automodule", "doctest-skip",
)
_UNQUALIFIED = frozenset({"cmdoption", "option", "envvar", "opcode", "pdbcommand", "describe", "object"})
_MEMBERS = frozenset({"method", "attribute", "classmethod", "staticmethod", "coroutinemethod", "abstractmethod",
                      "awaitablemethod", "decoratormethod", "property"})
_CODE = ("code-block", "sourcecode", "code", "doctest", "testcode", "testoutput")
_NOTES = ("note", "warning", "important", "caution", "attention", "danger", "tip", "hint", "deprecated",
          "deprecated-removed")


class _Api(Directive):
    has_content = True
    required_arguments = 1
    final_argument_whitespace = True
    option_spec: ClassVar[dict[str, Any]] = {}  # filled in to accept every option, see _AnyOptions

    def run(self) -> list[nodes.Node]:
        node = api_entry()
        node["objtype"] = self.name.split(":")[-1]
        node["signatures"] = [line.strip().rstrip("\\") for line in self.arguments[0].splitlines() if line.strip()]
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


class _AnyOptions(dict[str, Any]):
    """An option spec that accepts every option (``:noindex:``, ``:synopsis:`` …) and keeps its text."""

    def __contains__(self, key: object) -> bool:
        return True

    def __bool__(self) -> bool:  # docutils parses options only when the spec is truthy
        return True

    def __getitem__(self, key: str) -> Any:
        return directives.unchanged

    def get(self, key: str, default: Any = None) -> Any:
        return directives.unchanged


_Api.option_spec = _AnyOptions()


class _Module(Directive):
    has_content = True
    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = _AnyOptions()

    def run(self) -> list[nodes.Node]:
        node = module_marker()
        node["name"] = self.arguments[0].strip()
        return [node]


class _Drop(Directive):
    has_content = True
    optional_arguments = 10
    final_argument_whitespace = True
    option_spec: ClassVar[dict[str, Any]] = _AnyOptions()

    def run(self) -> list[nodes.Node]:
        return []


class _Code(Directive):
    has_content = True
    optional_arguments = 1
    final_argument_whitespace = True
    option_spec: ClassVar[dict[str, Any]] = _AnyOptions()

    def run(self) -> list[nodes.Node]:
        code = "\n".join(self.content)
        if self.name == "testoutput":
            language = "output"
        elif self.name in ("doctest", "testcode"):
            language = "pycon" if code.lstrip().startswith(">>>") else "python"
        else:
            language = (self.arguments[0] if self.arguments else "python").strip()
        node = nodes.literal_block(code, code)
        node["language"] = language
        return [node]


class _Grammar(Directive):
    has_content = True
    optional_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        text = "\n".join(self.content)
        node = nodes.literal_block(text, text)
        node["language"] = "text"
        return [node]


class _Glossary(Directive):
    has_content = True
    option_spec: ClassVar[dict[str, Any]] = _AnyOptions()

    def run(self) -> list[nodes.Node]:
        node = glossary()
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


class _Note(Directive):
    has_content = True
    optional_arguments = 2
    final_argument_whitespace = True
    option_spec: ClassVar[dict[str, Any]] = _AnyOptions()

    def run(self) -> list[nodes.Node]:
        node = note_block()
        kind = self.name
        if kind.startswith("deprecated"):
            version = self.arguments[0].split()[0] if self.arguments else ""
            node["label"] = f"Deprecated since version {version}" if version else "Deprecated"
        else:
            node["label"] = kind.capitalize()
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


# Roles whose text is code: shown as a code span.  ``:func:`` and ``:meth:`` get
# "()" as Sphinx adds them; "~a.b" shows "b"; "title <target>" shows the title.
_CODE_ROLES = frozenset(
    "func meth class mod attr data exc const obj keyword samp file envvar option program token opcode "
    "pdbcmd makevar mimetype kbd command code py:func py:meth py:class py:mod py:attr py:data py:exc "
    "py:const py:obj c:func c:type c:macro c:data c:member c:expr c:struct c:var cmake".split()
)
_TITLE_TARGET = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)


def _code_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
               options: Any = None, content: Any = None) -> tuple[list[nodes.Node], list[Any]]:
    text = nodes.unescape(text)
    match = _TITLE_TARGET.match(text)
    if match and match.group(1):
        shown = match.group(1)
    else:
        shown = text.lstrip("!")
        if shown.startswith("~"):
            shown = shown[1:].rsplit(".", 1)[-1]
    kind = name.split(":")[-1]
    if kind == "token":
        shown = shown.rsplit(":", 1)[-1]  # "python-grammar:expression": the grammar's name is not shown
    if kind in ("func", "meth") and not shown.endswith(")"):
        shown += "()"
    return [nodes.literal(shown, shown)], []


def _text_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
               options: Any = None, content: Any = None) -> tuple[list[nodes.Node], list[Any]]:
    text = nodes.unescape(text)
    match = _TITLE_TARGET.match(text)
    shown = match.group(1) if match and match.group(1) else text
    if name == "abbr":
        shown = re.sub(r"\s*\(.*\)$", "", shown)
    if name in ("issue", "gh"):
        shown = f"issue {shown}"
    return [nodes.Text(shown)], []


_ROLE = re.compile(r":([a-z]+(?::[a-z]+)?):`")
_registered: set[str] = set()


def _register() -> None:
    if _registered:
        return
    for name in _API_TYPES:
        directives.register_directive(name, _Api)
        directives.register_directive(f"py:{name}", _Api)
    directives.register_directive("module", _Module)
    directives.register_directive("currentmodule", _Module)
    directives.register_directive("py:module", _Module)
    directives.register_directive("py:currentmodule", _Module)
    for name in _DROPPED:
        directives.register_directive(name, _Drop)
    for name in _CODE:
        directives.register_directive(name, _Code)
    directives.register_directive("productionlist", _Grammar)
    directives.register_directive("glossary", _Glossary)
    for name in _NOTES:
        directives.register_directive(name, _Note)
    _registered.add("directives")


def _register_roles(source: str) -> None:
    """Register every role the page uses: code roles as code, the others (``ref``, ``term`` …) as text."""
    for name in set(_ROLE.findall(source)) - _registered:
        if name in ("pep", "rfc", "sub", "sup", "emphasis", "strong", "literal", "math"):
            continue  # docutils' own
        role: Any = _code_role if name in _CODE_ROLES else _text_role  # returns literal/Text nodes, not references
        roles.register_local_role(name, role)
        _registered.add(name)


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

    def _start(self, heading: str, api: ApiEntry | None = None) -> None:
        if self.current.blocks or self.current.api:
            self.sections.append(self.current)
        self.current = PageSection(heading, api=api)

    def add(self, block: Block) -> None:
        self.current.blocks.append(block)

    def walk(self, node: nodes.Node, depth: int = 0) -> None:
        if isinstance(node, nodes.section):
            title = node.next_node(nodes.title)
            heading = _inline(title).replace(" --- ", " — ") if title is not None else ""
            if not self.title:
                self.title = heading
            saved = self.current.heading
            self._start(heading)
            for child in node.children:
                if not isinstance(child, nodes.title):
                    self.walk(child, depth + 1)
            self._start(saved)  # text after a sub-section belongs to the enclosing one again
            return
        if isinstance(node, module_marker):
            self.module = str(node["name"])
            self.page_module = self.page_module or self.module
            return
        if isinstance(node, api_entry):
            self._api(node, depth)
            return
        if isinstance(node, glossary):
            saved = self.current.heading
            for item in node.findall(nodes.definition_list_item):
                terms = [_inline(t) for t in item.findall(nodes.term)]
                self._start(", ".join(terms))
                definition = item.next_node(nodes.definition)
                if definition is not None:
                    for child in definition.children:
                        self.walk(child, depth + 1)
            self._start(saved)
            return
        if isinstance(node, note_block):
            label = str(node["label"])
            first = True
            for child in node.children:
                if isinstance(child, nodes.paragraph):
                    text = _inline(child)
                    self.add(Block(f"**{label}:** {text}" if first else text, "note"))
                    first = False
                else:
                    self.walk(child, depth + 1)
            if first:
                self.add(Block(f"**{label}.**", "note"))
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
        saved = self.current.heading
        self._start(first, ApiEntry(name, first, objtype))
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
        if match is None or objtype in _UNQUALIFIED:
            return signature
        name = match.group(1)
        prefix = ""
        if self.classes and objtype in _MEMBERS:
            owner = self.classes[-1]
            if not name.startswith(owner.rsplit(".", 1)[-1] + "."):
                prefix = owner + "."
            elif self.module and not name.startswith(self.module + "."):
                prefix = self.module + "."
        elif self.module and not name.startswith(self.module + ".") and name != self.module:
            prefix = self.module + "."
        return signature[: match.start(1)] + prefix + signature[match.start(1) :]

    def finish(self) -> list[PageSection]:
        self._start("")
        return self.sections


def parse_page(source: str) -> ParsedPage:
    """One page of the manual as a title, the module it documents, and its sections of blocks."""
    _register()
    _register_roles(source)
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
