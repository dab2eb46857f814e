"""Sphinx's directives and roles, registered with docutils with the meaning a reader needs.

The manual is written for Sphinx, whose directives (``.. function::``) and roles
(``:func:``) plain docutils does not know.  An API entry keeps its qualified name and
signature (``asyncio.create_task(coro, *, name=None, context=None)``), a cross-reference
becomes the code it names, a doctest stays code, an index entry
(``single: * (asterisk); in function calls``) is kept as the terms of the section it
is in: it is how the manual's own readers find that section.  What only serves the
HTML build (toctrees, audit events, version notes, "see also" link lists) is dropped.
"""


from __future__ import annotations

import re
from typing import Any, ClassVar

import docutils.nodes as nodes
from docutils.parsers.rst import Directive, directives, roles

__all__ = ("MEMBERS", "UNQUALIFIED", "api_entry", "glossary", "index_terms", "module_marker", "note_block", "register")

# -- nodes of our own ---------------------------------------------------------------


class api_entry(nodes.Element):
    """``.. function::`` and its kin: ``objtype``, ``signatures``, and the description as children."""


class module_marker(nodes.Element):
    """``.. module::`` / ``.. currentmodule::``: the module later API names belong to."""


class glossary(nodes.Element):
    """``.. glossary::``: each term becomes a section of its own, so that it is found by name."""


class index_terms(nodes.Element):
    """``.. index::``: the entries, as the terms a reader looks the section up by."""


class note_block(nodes.Element):
    """A note, warning or CPython detail: kept, and marked, because pitfalls live there."""


_API_TYPES = (
    "function", "method", "class", "attribute", "data", "exception", "decorator", "decoratormethod",
    "classmethod", "staticmethod", "coroutinemethod", "coroutinefunction", "abstractmethod",
    "awaitablefunction", "awaitablemethod", "describe", "object", "opcode", "cmdoption", "option",
    "envvar", "pdbcommand", "property",
)
_DROPPED = (
    "sectionauthor", "moduleauthor", "highlight", "toctree", "tabularcolumns", "include",
    "audit-event", "audit-event-table", "availability", "program", "only", "testsetup", "testcleanup",
    "literalinclude", "miscnews", "limited-api-list", "versionadded", "versionchanged", "seealso",
    "impl-detail", "rubric", "contents", "raw", "image", "figure", "productionlist-hidden", "autoclass",
    "autofunction", "automodule", "doctest-skip",
)
UNQUALIFIED = frozenset({"cmdoption", "option", "envvar", "opcode", "pdbcommand", "describe", "object"})
MEMBERS = frozenset({"method", "attribute", "classmethod", "staticmethod", "coroutinemethod", "abstractmethod",
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


class _Index(Directive):
    has_content = True
    optional_arguments = 1
    final_argument_whitespace = True
    option_spec: ClassVar[dict[str, Any]] = _AnyOptions()

    def run(self) -> list[nodes.Node]:
        node = index_terms()
        lines = [*(self.arguments[0].splitlines() if self.arguments else []), *self.content]
        # A typed entry keeps its commas ("single: strings, documentation"); ".. index:: a, b" is two.
        entries = [e for line in lines for e in ([line] if _INDEX_TYPE.match(line) else line.split(","))]
        node["terms"] = [term for entry in entries if (term := _index_term(entry))]
        return [node]


# "pair: function; annotations", "single: **; in function calls", "statement: for": the entry's
# words without its type ("see: x; y" points elsewhere and is left out).
_INDEX_TYPE = re.compile(r"^\s*!?(single|pair|triple|keyword|statement|builtin|object|module|operator|"
                         r"exception|see|seealso)\s*:\s*")


def _index_term(line: str) -> str:
    text = line.strip()
    match = _INDEX_TYPE.match(text)
    if match:
        if match.group(1) in ("see", "seealso"):
            return ""
        text = text[match.end():]
    return " ".join(text.lstrip("!").split())


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
            if self.arguments:
                # ".. warning::" with its text on the lines right below: docutils reads them as arguments.
                paragraph = nodes.paragraph()
                text_nodes, _ = self.state.inline_text(" ".join(" ".join(self.arguments).split()), self.lineno)
                paragraph.extend(text_nodes)
                node.append(paragraph)
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
    if name == "ref" and not (match and match.group(1)):
        shown = f"⸨{text.strip().lstrip('~')}⸩"  # a label: the section's heading, once the index can say it
    return [nodes.Text(shown)], []


_ROLE = re.compile(r":([a-z]+(?::[a-z]+)?):`")
_registered: set[str] = set()


def register(source: str) -> None:
    """Register the directives (once) and every role ``source`` uses."""
    _register_directives()
    _register_roles(source)


def _register_directives() -> None:
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
    directives.register_directive("index", _Index)
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
