"""Where documents come from: the Python manual, and the documentation that ships with the interpreter.

The embedded default corpus needs no network and no set-up: the language
reference topics that ship in ``pydoc_data.topics`` and the standard library's
module documentation.  Pure-Python modules are read with ``ast`` (never
imported, so nothing runs); extension modules, which have no source, are
imported and read with ``inspect``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import sys
import sysconfig
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._text import Block, sentences
from .manual import PARTS, Manual
from .rest_reader import parse_page

__all__ = ("Document", "Section", "default_corpus", "manual_corpus")


@dataclass(slots=True)
class Section:
    heading: str
    text: str
    blocks: list[Block] | None = None  # already cut (the manual's parser does it); else cut from ``text``
    names: str = ""  # API names the section documents ("asyncio.create_task"), indexed with its text
    path: tuple[str, ...] = ()  # the headings above it, the page's title first (the manual's pages)
    anchor: str = ""  # its id on the page ("arbitrary-argument-lists", "str.split")
    terms: tuple[str, ...] = ()  # the manual's index entries that point at it
    signature: str = ""  # an API entry's: "str.split(sep=None, maxsplit=-1)"
    objtype: str = ""  # an API entry's: "method", "class" …
    labels: tuple[str, ...] = ()  # the manual's labels for it (``tut-tuples``)


@dataclass(slots=True)
class Document:
    """One source: an id that is stable across rebuilds, a title, and its sections."""

    id: str
    title: str
    kind: str  # "manual" | "pydoc" | "module" | "file"
    keywords: str = ""
    sections: list[Section] = field(default_factory=list)
    trusted: bool = False  # its code may be run to show real output (see ``examples``)


# -- language reference topics -----------------------------------------------------


def pydoc_topics() -> Iterator[Document]:
    from pydoc_data.topics import topics

    for key in sorted(topics):
        text = topics[key]
        first = text.strip().splitlines()[0].strip()
        yield Document(
            id=f"pydoc:{key}",
            title=first.replace('"', ""),
            kind="pydoc",
            keywords=key.replace("-", " "),
            sections=[Section(first, text, terms=(key.replace("-", " "),))],
        )


# -- standard library modules ----------------------------------------------------------

# Not documentation a course should cite: demos, test suites, tooling internals,
# and the two modules whose point is a joke.
_SKIPPED_MODULES = frozenset(
    {"antigravity", "this", "idlelib", "turtledemo", "lib2to3", "ensurepip", "pydoc_data", "test"}
)
_SKIPPED_DIRS = frozenset({"test", "tests", "idle_test", "__pycache__", "site-packages"})


def _summary(docstring: str | None, fallback: str) -> str:
    if not docstring:
        return fallback
    first = sentences(docstring.strip().split("\n\n")[0])
    text = first[0] if first else fallback
    return text if len(text) <= 90 else text[:87].rstrip() + "…"


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    args = ast.unparse(node.args)
    return f"{node.name}({args})"


def _public_names(tree: ast.Module) -> set[str] | None:
    """The names listed in a literal ``__all__``, if the module has one."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return None
            return {str(v) for v in value}
    return None


def module_from_source(name: str, source: str) -> Document | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in old modules
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    exported = _public_names(tree)
    doc = ast.get_docstring(tree)
    sections: list[Section] = []
    if doc:
        sections.append(Section(f"{name} (module)", doc))
    for node in tree.body:
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if node.name.startswith("_") or (exported is not None and node.name not in exported):
            continue
        node_doc = ast.get_docstring(node)
        if isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            heading = f"class {name}.{node.name}({bases})" if bases else f"class {name}.{node.name}"
            if node_doc:
                sections.append(Section(heading, node_doc, names=f"{name}.{node.name}", signature=heading[6:],
                                        objtype="class"))
            for item in node.body:
                if (
                    isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and not item.name.startswith("_")
                    and (item_doc := ast.get_docstring(item))
                ):
                    signature = f"{name}.{node.name}.{_signature(item)}"
                    sections.append(Section(signature, item_doc, names=f"{name}.{node.name}.{item.name}",
                                            signature=signature, objtype="method"))
        elif node_doc:
            prefix = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
            signature = f"{name}.{_signature(node)}"
            sections.append(Section(prefix + signature, node_doc, names=f"{name}.{node.name}", signature=signature,
                                    objtype="function"))
    return _module_document(name, doc, sections)


def _module_document(name: str, doc: str | None, sections: list[Section]) -> Document | None:
    """A module's document: titled by its first docstring sentence; None when it documents nothing."""
    if not sections:
        return None
    return Document(
        id=f"module:{name}",
        title=f"{name} — {_summary(doc, 'module ' + name)}",
        kind="module",
        keywords=name.replace(".", " ") + " " + name,
        sections=sections,
    )


def module_from_import(name: str) -> Document | None:
    """Document an extension module (no source to read) from its docstrings."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - platform-specific modules simply are not there
        return None
    sections: list[Section] = []
    doc = inspect.getdoc(module)
    if doc:
        sections.append(Section(f"{name} (module)", doc))
    exported = getattr(module, "__all__", None)
    for attr, value in sorted(vars(module).items()):
        if attr.startswith("_") or (exported is not None and attr not in exported):
            continue
        if not (inspect.isclass(value) or inspect.isroutine(value)):
            continue
        if getattr(value, "__module__", name) not in (name, None):
            continue
        value_doc = inspect.getdoc(value)
        if not value_doc:
            continue
        sig = getattr(value, "__text_signature__", None) or "(...)"
        sig = sig.replace("$module, ", "").replace("$module", "").replace("$self, ", "").replace("$self", "")
        if inspect.isclass(value):
            sections.append(Section(f"class {name}.{attr}", value_doc, names=f"{name}.{attr}",
                                    signature=f"{name}.{attr}", objtype="class"))
            for method_name, method in sorted(vars(value).items()):
                if method_name.startswith("_") or not callable(method):
                    continue
                method_doc = inspect.getdoc(method)
                if method_doc and method_doc != value_doc:
                    sections.append(Section(f"{name}.{attr}.{method_name}", method_doc,
                                            names=f"{name}.{attr}.{method_name}",
                                            signature=f"{name}.{attr}.{method_name}()", objtype="method"))
        else:
            sections.append(Section(f"{name}.{attr}{sig}", value_doc, names=f"{name}.{attr}",
                                    signature=f"{name}.{attr}{sig}", objtype="function"))
    return _module_document(name, doc, sections)


def _stdlib_sources() -> Iterator[tuple[str, Path]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for top in sorted(sys.stdlib_module_names):
        if top.startswith("_") or top in _SKIPPED_MODULES:
            continue
        single = stdlib / f"{top}.py"
        package = stdlib / top
        if single.is_file():
            yield top, single
        elif (package / "__init__.py").is_file():
            for root, dirs, files in os.walk(package):
                dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("_"))
                for file in sorted(files):
                    if not file.endswith(".py") or (file.startswith("_") and file != "__init__.py"):
                        continue
                    path = Path(root) / file
                    parts = path.relative_to(stdlib).with_suffix("").parts
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    yield ".".join(parts), path


def stdlib_modules() -> Iterator[Document]:
    seen: set[str] = set()
    for name, path in _stdlib_sources():
        seen.add(name.split(".")[0])
        document = module_from_source(name, path.read_text(encoding="utf-8", errors="replace"))
        if document is not None:
            yield document
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in seen or name in _SKIPPED_MODULES:
            continue
        document = module_from_import(name)
        if document is not None:
            yield document


def default_corpus() -> Iterator[Document]:
    yield from pydoc_topics()
    yield from stdlib_modules()


# -- the manual ----------------------------------------------------------------------

# Pages that teach nothing about the language: the changelog-like "what's new",
# the C API, build and distribution tooling are outside the four parts anyway;
# these inside them are indexes or stubs.
_SKIPPED_PAGES = frozenset({"library/index", "reference/index", "tutorial/index", "howto/index",
                            "library/undoc", "library/superseded", "library/security_warnings"})


def manual_page(page_id: str, source: str) -> Document | None:
    """One page of the manual (``library/asyncio-task``) as a document of pre-cut sections."""
    page = parse_page(source)
    sections: list[Section] = []
    for section in page.sections:
        blocks = [b for b in section.blocks if not b.text.startswith("**Source code:**")]
        if not blocks and section.api is None:
            continue
        if section.api is not None:
            # An API entry's heading is its signature, and its body starts with it, so that
            # a passage never shows "Return a task object." without saying whose.
            blocks = [Block(section.api.signature, "literal", "signature"), *blocks]
        api = section.api
        sections.append(Section(section.heading or page.title, "", blocks, api.name if api else "",
                                path=section.path, anchor=section.anchor, terms=tuple(section.terms),
                                signature=api.signature if api else "", objtype=api.objtype if api else "",
                                labels=section.labels))
    if not sections:
        return None
    part = page_id.split("/")[0]
    keywords = " ".join(filter(None, [page.module, part]))
    return Document(
        id=f"manual:{page_id}",
        title=page.title or page_id,
        kind="manual",
        keywords=keywords,
        sections=sections,
        trusted=True,
    )


def manual_corpus(manual: Manual) -> Iterator[Document]:
    """The tutorial, HOWTOs, library reference and language reference, page by page."""
    for part in (*PARTS, "glossary"):
        for path in sorted((manual.root / part).glob("*.rst.txt")):
            page_id = f"{part}/{path.name.removesuffix('.rst.txt')}" if part in PARTS else part
            if page_id in _SKIPPED_PAGES or page_id == "library/test" or page_id.startswith("library/test."):
                continue  # the test package documents CPython's own test suite, not Python
            document = manual_page(page_id, path.read_text(encoding="utf-8", errors="replace"))
            if document is not None:
                yield document
