"""The section index: every section of every page, as the unit a course is built from.

A section keeps what its page gives it: its heading path (page title first), the kind of page it
is on (tutorial, howto, library, reference, glossary, faq; ``file`` for a user's own documents),
its blocks in order (prose paragraphs, code, notes and warnings, tables), its API entry (qualified
name, signature, object type) and the manual's ``.. index::`` terms that point at it.  Lookups go
the way the manual's readers go: by index term, heading, glossary entry and API name
(``retriever``); an FTS5 table indexes the normalised text of each of those apart, so that a match
in a heading weighs more than one in running text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from ._text import Block, normalise, split_blocks
from .corpus import Document

__all__ = ("SCHEMA", "ManualSection", "SectionIndex", "insert_sections", "page_kind")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sections(
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    title TEXT NOT NULL, heading TEXT NOT NULL, path TEXT NOT NULL, anchor TEXT NOT NULL,
    api_name TEXT NOT NULL, signature TEXT NOT NULL, objtype TEXT NOT NULL, terms TEXT NOT NULL,
    blocks TEXT NOT NULL, labels TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sections_by_doc ON sections(doc_id, seq);
CREATE INDEX IF NOT EXISTS sections_by_api ON sections(api_name);
CREATE INDEX IF NOT EXISTS sections_by_label ON sections(labels);
CREATE VIRTUAL TABLE IF NOT EXISTS section_index USING fts5(
    heading, terms, names, context, body, tokenize = 'unicode61'
);
"""
# bm25() weights of heading, terms, names, context (path and page title), body.
_WEIGHTS = "10.0, 8.0, 8.0, 2.0, 1.0"
_COLUMNS = "id, doc_id, seq, kind, title, heading, path, anchor, api_name, signature, objtype, terms, blocks"
_PAGE_KINDS = {"tutorial": "tutorial", "howto": "howto", "library": "library", "reference": "reference",
               "glossary": "glossary", "faq": "faq"}


def page_kind(doc_id: str) -> str:
    """What kind of page a document is: the manual's part, or what the fallback corpus stands in for."""
    origin, _, name = doc_id.partition(":")
    if origin == "manual":
        return _PAGE_KINDS.get(name.split("/")[0], "library")
    return {"pydoc": "reference", "module": "library"}.get(origin, "file")


@dataclass(frozen=True, slots=True)
class ManualSection:
    id: int
    doc_id: str
    seq: int
    kind: str
    title: str  # the page's title
    heading: str
    path: tuple[str, ...]
    anchor: str
    api_name: str
    signature: str
    objtype: str
    terms: tuple[str, ...]
    blocks: tuple[Block, ...]

    @property
    def page(self) -> str:
        """``tutorial/controlflow`` for the manual's pages, the document's id otherwise."""
        origin, _, name = self.doc_id.partition(":")
        return name if origin == "manual" else self.doc_id

    @property
    def name(self) -> str:
        """How a reader names it: an API entry by its qualified name, a section by its heading."""
        return self.api_name or self.heading.replace("`", "")

    def url(self, french: bool = False) -> str:
        """Where it is on docs.python.org ("" for a document that is not the manual's)."""
        if not self.doc_id.startswith("manual:"):
            return ""
        page = "glossary" if self.page == "glossary" else self.page
        language = "fr/3" if french else "3"
        return f"https://docs.python.org/{language}/{page}.html" + (f"#{self.anchor}" if self.anchor else "")

    def label(self) -> str:
        """``section "Arbitrary Argument Lists" (tutorial/controlflow)``, for progress lines."""
        what = "entry" if self.api_name else "section"
        return f'{what} "{self.name}" ({self.page})'


def _row(row: tuple[object, ...]) -> ManualSection:
    blocks = tuple(Block(str(t), str(k), str(lang)) for t, k, lang in json.loads(str(row[12])))
    path = tuple(json.loads(str(row[6])))
    terms = tuple(t for t in str(row[11]).split("\n") if t)
    return ManualSection(int(str(row[0])), str(row[1]), int(str(row[2])), str(row[3]), str(row[4]), str(row[5]),
                         path, str(row[7]), str(row[8]), str(row[9]), str(row[10]), terms, blocks)


def insert_sections(db: sqlite3.Connection, document: Document) -> int:
    """Index a document's sections (the caller deleted its earlier ones); returns how many."""
    kind = page_kind(document.id)
    count = 0
    for seq, section in enumerate(document.sections):
        raw = section.blocks if section.blocks is not None else split_blocks(section.text)
        # The signature is kept apart: the manual's reader put it first among the entry's blocks.
        blocks = [b for b in raw if b.language != "signature"
                  and not (b.kind == "heading" and b.text.strip() == section.heading.strip())]
        if not blocks and not section.signature:
            continue
        path = section.path or (document.title, section.heading)
        cursor = db.execute(
            f"INSERT INTO sections({_COLUMNS.split(', ', 1)[1]}, labels) VALUES ({', '.join('?' * 13)})",
            (document.id, seq, kind, document.title, section.heading, json.dumps(list(path)), section.anchor,
             section.names, section.signature, section.objtype, "\n".join(section.terms),
             json.dumps([[b.text, b.kind, b.language] for b in blocks]), " ".join(section.labels)),
        )
        names = f"{section.names} {section.names.rsplit('.', 1)[-1]}" if section.names else ""
        db.execute(
            "INSERT INTO section_index(rowid, heading, terms, names, context, body) VALUES (?, ?, ?, ?, ?, ?)",
            (cursor.lastrowid, normalise(section.heading if not section.names else ""),
             normalise(" ".join(section.terms)),
             normalise(names), normalise(" ".join([*path[:-1], document.keywords])),
             normalise(" ".join(b.text for b in blocks))),
        )
        count += 1
    return count


def delete_sections(db: sqlite3.Connection, ids_query: str, params: Iterable[str]) -> None:
    """Delete the sections of the documents ``ids_query`` selects."""
    values = list(params)
    db.execute(f"DELETE FROM section_index WHERE rowid IN (SELECT id FROM sections WHERE doc_id IN ({ids_query}))",
               values)
    db.execute(f"DELETE FROM sections WHERE doc_id IN ({ids_query})", values)


class SectionIndex:
    """Read access to the sections of one knowledge-base connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _select(self, where: str, params: Iterable[object], limit: int = 200) -> list[ManualSection]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM sections WHERE {where} ORDER BY doc_id, seq LIMIT ?",
                                (*params, limit)).fetchall()
        return [_row(r) for r in rows]

    def search(self, match: str, limit: int = 60, column: str = "") -> list[tuple[ManualSection, float]]:
        """Sections an FTS5 expression matches (in one column when given), best first, with a score."""
        expression = f"{{{column}}} : ({match})" if column else match
        try:
            rows = self._db.execute(
                f"SELECT {', '.join('s.' + c for c in _COLUMNS.split(', '))}, m.rank FROM ("
                f"  SELECT rowid, bm25(section_index, {_WEIGHTS}) AS rank FROM section_index"
                "   WHERE section_index MATCH ? ORDER BY rank LIMIT ?"
                ") AS m JOIN sections AS s ON s.id = m.rowid ORDER BY m.rank",
                (expression, limit),
            ).fetchall()
        except sqlite3.OperationalError:
            return []  # an expression FTS5 cannot parse matches nothing
        return [(_row(r[:13]), -float(r[13])) for r in rows]

    def api(self, name: str) -> list[ManualSection]:
        """The entries of an API name: exact (``collections.Counter``), else by its last part (``split``)."""
        exact = self._select("api_name = ?", (name,))
        if exact or "." in name:
            return exact
        return self._select("api_name = ? OR api_name GLOB ?", (name, f"*.{name}"))  # GLOB: case matters

    def with_term(self, pattern: str) -> list[ManualSection]:
        """Sections an index term points at (``pattern`` as SQL LIKE, matched on each line of terms)."""
        return self._select("('\n' || terms || '\n') LIKE ?", (f"%\n{pattern}\n%",))

    def entries_of(self, doc_id: str) -> list[ManualSection]:
        """A page's API entries, in order."""
        return self._select("doc_id = ? AND api_name != ''", (doc_id,), limit=5000)

    def of_page(self, doc_id: str) -> list[ManualSection]:
        return self._select("doc_id = ?", (doc_id,), limit=5000)

    def labelled(self, label: str) -> ManualSection | None:
        """The section a ``:ref:`` label names."""
        found = self._select("(' ' || labels || ' ') LIKE ?", (f"% {label} %",), limit=1)
        return found[0] if found else None

    def headed(self, heading: str) -> list[ManualSection]:
        """Sections whose heading is exactly this, case aside (``Generators``, ``generator``)."""
        return self._select("lower(replace(heading, '`', '')) = lower(?)", (heading,))
