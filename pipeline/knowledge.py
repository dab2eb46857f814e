"""The knowledge base: documents cut into passages, in a SQLite FTS5 index in one file.

SQLite ships with Python, FTS5 gives BM25 ranking and a Porter stemmer, and one
file is easy to copy, inspect and delete.  The embedded default corpus (the
interpreter's own documentation) is indexed on first use and again only when
the interpreter's version changes; users' documents are added with
``python -m pipeline.ingest``.

Each job opens its own connection: SQLite connections are cheap and must not be
shared between threads, and WAL mode lets any number of readers run beside a
writer.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import corpus
from ._text import Block, normalise, split_blocks
from .manual import Manual, installed
from .sections import SCHEMA as SECTIONS_SCHEMA
from .sections import SectionIndex, delete_sections, insert_sections

__all__ = ("DEFAULT_PATH", "Hit", "KnowledgeBase", "Passage", "default_path")

# The project's own data/, wherever the server was started from (not the current directory).
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "knowledge.sqlite3"
MAX_PASSAGE = 1400  # characters of prose per passage; literal blocks are never cut

# Column weights for bm25(): a match in a title or keyword says far more about
# what a document is about than a match in running text.
_BM25_WEIGHTS = "8.0, 6.0, 3.0, 1.0"
_DOC_BM25_WEIGHTS = "0.0, 10.0, 8.0, 2.0, 1.0"

# ``passages`` keeps the text as written; ``passage_index`` indexes a normalised
# copy (see ``_text.normalise``) under the same rowid.  FTS5's Porter stemmer is
# not used because it conflates the words this corpus is about ("generator",
# "general" and "generate" all become "gener").
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, kind TEXT NOT NULL, origin TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS passages(
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, seq INTEGER NOT NULL,
    title TEXT NOT NULL, heading TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_by_doc ON passages(doc_id, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS passage_index USING fts5(
    title, keywords, heading, body, tokenize = 'unicode61'
);
CREATE VIRTUAL TABLE IF NOT EXISTS document_index USING fts5(
    doc_id UNINDEXED, title, keywords, headings, body, tokenize = 'unicode61'
);
"""

_build_lock = threading.Lock()


def default_path() -> Path:
    """The knowledge base the service uses: ``$KNOWLEDGE_BASE``, else the project's ``data/knowledge.sqlite3``."""
    return Path(os.environ.get("KNOWLEDGE_BASE") or DEFAULT_PATH)


# ``default_choice`` of a file built with ``ingest --without-python-docs``: only its own documents.
WITHOUT_DEFAULT_CORPUS = "without"

# Kinds of documents that make up a default corpus (replaced together when it changes).
_DEFAULT_KINDS = "kind IN ('pydoc', 'module', 'manual')"


def _corpus_version(manual: Manual | None) -> str:
    if manual is not None:
        return f"manual-{manual.package}-{manual.version}-v9"
    return f"python-{platform.python_version()}-v9"


def _corpus_description(manual: Manual | None) -> str:
    if manual is not None:
        return f"{manual.describe()}: tutorial, HOWTOs, library and language reference"
    return (f"the documentation that ships with Python {platform.python_version()} (the manual could not be "
            "fetched; run make manual)")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``3 documents``, ``1 document``: progress text never says "1 sources"."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def block_text(block: Block) -> str:
    """A block as a passage stores it: code and signatures fenced with their language, the rest as is."""
    if block.kind == "literal":
        return f"```{block.language}\n{block.text}\n```"
    return block.text


@dataclass(frozen=True, slots=True)
class Passage:
    doc_id: str
    seq: int
    title: str
    heading: str
    body: str  # prose paragraphs; literal blocks fenced with ``` so code stays intact


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float  # higher is better (negated bm25)


def passages_of(document: corpus.Document) -> Iterator[tuple[str, str, str]]:
    """Cut a document into (heading, body, API names) passages of bounded size along block boundaries."""
    for section in document.sections:
        heading = section.heading
        parts: list[str] = []
        size = 0
        for block in section.blocks if section.blocks is not None else split_blocks(section.text):
            if block.kind == "heading":
                if parts:
                    yield heading, "\n\n".join(parts), section.names
                    parts, size = [], 0
                heading = block.text
                continue
            text = block_text(block)
            if parts and block.kind in ("prose", "note") and size + len(text) > MAX_PASSAGE:
                yield heading, "\n\n".join(parts), section.names
                parts, size = [], 0
            parts.append(text)
            size += len(text)
        if parts:
            yield heading, "\n\n".join(parts), section.names


class KnowledgeBase:
    """A handle on one knowledge-base file. Not shared between threads: open one per job."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=120)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._db.executescript(SECTIONS_SCHEMA)
        self.sections = SectionIndex(self._db)
        columns = {str(row[1]) for row in self._db.execute("PRAGMA table_info(documents)")}
        if "trusted" not in columns:  # a file written before examples were run
            self._db.execute("ALTER TABLE documents ADD COLUMN trusted INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building ------------------------------------------------------------------

    def has_default_corpus(self, manual: Manual | None = None) -> bool:
        return self._meta("default_corpus") == _corpus_version(manual)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row is not None else None

    def ensure_default_corpus(
        self, progress: Callable[[str], None] = print, manual: Manual | bool | None = True
    ) -> bool:
        """Index the default corpus unless it already is; True if it indexed now.

        ``manual``: True (the default) uses the Python manual fetched by ``make manual``
        when there is one, and the interpreter's own documentation otherwise; None or
        False forces that fallback; a ``Manual`` uses that one.  A file built without
        the Python documentation (``without_default_corpus``) is left so, whatever the
        caller: the service opens every knowledge base through here, and a team's own
        knowledge base must not get the manual mixed in.
        """
        if self._meta("default_choice") == WITHOUT_DEFAULT_CORPUS:
            return False
        if manual is True and self._meta("default_choice") == "builtin":
            manual = None  # this file was built without the manual on purpose: keep it so
        chosen = installed() if manual is True else manual or None
        if manual is True and chosen is None and self.corpus() == "manual":
            return False  # indexed from a manual that is not where this process looks: keep it, never downgrade
        if self.has_default_corpus(chosen):
            return False
        with _build_lock:
            # BEGIN IMMEDIATE takes the write lock, so a second process building at
            # the same moment waits here, then sees the corpus is there.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self.has_default_corpus(chosen):
                    self._db.rollback()
                    return False
                description = _corpus_description(chosen)
                progress(f"Indexing {description} into {self.path} (first use only)…")
                started = time.perf_counter()
                self._delete_where(_DEFAULT_KINDS)
                documents = corpus.manual_corpus(chosen) if chosen is not None else corpus.default_corpus()
                n_documents, n_passages = self._insert(documents, origin="python")
                choice = "auto" if manual is True or chosen is not None else "builtin"
                for key, value in (("default_corpus", _corpus_version(chosen)), ("description", description),
                                   ("default_choice", choice)):
                    self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise
        progress(
            f"Indexed {plural(n_documents, 'document')} ({plural(n_passages, 'passage')}) "
            f"in {time.perf_counter() - started:.1f} s."
        )
        return True

    def without_default_corpus(self) -> None:
        """Record that this file holds only its own documents: the default corpus goes, and
        ``ensure_default_corpus`` never indexes it again (``ingest --without-python-docs``)."""
        with _build_lock, self._db:
            self._delete_where(_DEFAULT_KINDS)
            self._db.execute("DELETE FROM meta WHERE key IN ('default_corpus', 'description')")
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('default_choice', ?)",
                             (WITHOUT_DEFAULT_CORPUS,))

    def has_python_docs(self) -> bool:
        """False when the file was built without the Python documentation on purpose."""
        return self._meta("default_choice") != WITHOUT_DEFAULT_CORPUS

    def add_documents(self, documents: Iterable[corpus.Document], origin: str) -> tuple[int, int]:
        """Add or replace documents (same id replaces); returns (documents, passages) written."""
        with self._db:
            return self._insert(documents, origin)

    def _delete_where(self, condition: str, *params: str) -> None:
        ids = f"SELECT id FROM documents WHERE {condition}"
        delete_sections(self._db, ids, params)
        self._db.execute(
            f"DELETE FROM passage_index WHERE rowid IN (SELECT id FROM passages WHERE doc_id IN ({ids}))", params
        )
        self._db.execute(f"DELETE FROM passages WHERE doc_id IN ({ids})", params)
        self._db.execute(f"DELETE FROM document_index WHERE doc_id IN ({ids})", params)
        self._db.execute(f"DELETE FROM documents WHERE {condition}", params)

    def _insert(self, documents: Iterable[corpus.Document], origin: str) -> tuple[int, int]:
        n_docs = n_passages = 0
        for document in documents:
            self._delete_where("id = ?", document.id)
            self._db.execute(
                "INSERT INTO documents(id, title, kind, origin, trusted) VALUES (?, ?, ?, ?, ?)",
                (document.id, document.title, document.kind, origin, int(document.trusted)),
            )
            title, keywords = normalise(document.title), normalise(document.keywords)
            headings: list[str] = []
            bodies: list[str] = []
            for seq, (heading, body, names) in enumerate(passages_of(document)):
                cursor = self._db.execute(
                    "INSERT INTO passages(doc_id, seq, title, heading, body) VALUES (?, ?, ?, ?, ?)",
                    (document.id, seq, document.title, heading, body),
                )
                self._db.execute(
                    "INSERT INTO passage_index(rowid, title, keywords, heading, body) VALUES (?, ?, ?, ?, ?)",
                    (cursor.lastrowid, title, f"{keywords} {normalise(names)}".strip(), normalise(heading),
                     normalise(body)),
                )
                if not headings or headings[-1] != heading:
                    headings.append(heading)
                bodies.append(body)
                n_passages += 1
            self._db.execute(
                "INSERT INTO document_index(doc_id, title, keywords, headings, body) VALUES (?, ?, ?, ?, ?)",
                (document.id, title, keywords, normalise(" ".join(headings)), normalise(" ".join(bodies))),
            )
            insert_sections(self._db, document)
            n_docs += 1
        return n_docs, n_passages

    # -- reading -------------------------------------------------------------------

    def search_documents(self, match: str, limit: int = 30) -> list[tuple[str, str, float]]:
        """Documents matching an FTS5 ``match`` expression as (id, title, score), best first."""
        try:
            rows = self._db.execute(
                f"SELECT i.doc_id, d.title, bm25(document_index, {_DOC_BM25_WEIGHTS}) AS rank "
                "FROM document_index AS i JOIN documents AS d ON d.id = i.doc_id "
                "WHERE document_index MATCH ? ORDER BY rank LIMIT ?",
                (match, limit),
            ).fetchall()
        except sqlite3.OperationalError:
            return []  # an expression FTS5 cannot parse matches nothing
        return [(str(r[0]), str(r[1]), -float(r[2])) for r in rows]

    def search(self, match: str, limit: int = 12, doc_ids: Iterable[str] | None = None) -> list[Hit]:
        """Passages matching an FTS5 ``match`` expression, best first, optionally within some documents."""
        where, params = "", [match]
        if doc_ids is not None:
            ids = list(doc_ids)
            if not ids:
                return []
            where = f" AND rowid IN (SELECT id FROM passages WHERE doc_id IN ({', '.join('?' * len(ids))}))"
            params.extend(ids)
        try:
            rows = self._db.execute(
                "SELECT p.doc_id, p.seq, p.title, p.heading, p.body, m.rank FROM ("
                f"  SELECT rowid, bm25(passage_index, {_BM25_WEIGHTS}) AS rank FROM passage_index"
                f"   WHERE passage_index MATCH ?{where} ORDER BY rank LIMIT ?"
                ") AS m JOIN passages AS p ON p.id = m.rowid ORDER BY m.rank",
                (*params, limit),
            ).fetchall()
        except sqlite3.OperationalError:
            return []  # an expression FTS5 cannot parse matches nothing
        return [Hit(Passage(r[0], int(r[1]), r[2], r[3], r[4]), -float(r[5])) for r in rows]

    def size(self) -> int:
        """How many passages the knowledge base holds."""
        row = self._db.execute("SELECT count(*) FROM passages").fetchone()
        return int(row[0])

    def count(self, match: str, cap: int = 50) -> int:
        """How many passages match an FTS5 expression (counting stops at ``cap``)."""
        try:
            row = self._db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM passage_index WHERE passage_index MATCH ? LIMIT ?)", (match, cap)
            ).fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0])

    def passages(self, doc_id: str) -> list[Passage]:
        rows = self._db.execute(
            "SELECT doc_id, seq, title, heading, body FROM passages WHERE doc_id = ? ORDER BY seq",
            (doc_id,),
        ).fetchall()
        return [Passage(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]

    def title(self, doc_id: str) -> str:
        row = self._db.execute("SELECT title FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return str(row[0]) if row else doc_id

    def counts(self) -> dict[str, int]:
        """How many documents of each kind the knowledge base holds."""
        return {str(k): int(n) for k, n in self._db.execute("SELECT kind, count(*) FROM documents GROUP BY kind")}

    def is_trusted(self, doc_id: str) -> bool:
        """Whether the operator trusts this document's code to be run (the manual; ingested with --trust-code)."""
        row = self._db.execute("SELECT trusted FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return bool(row and row[0])

    def corpus(self) -> str:
        """Which default corpus is in use: "manual", "builtin" (the fallback), or "none"."""
        version = self._meta("default_corpus") or ""
        return "manual" if version.startswith("manual-") else "builtin" if version else "none"

    def describe(self) -> str:
        """One line saying what this knowledge base holds, for people: which corpus first."""
        counts = self.counts()
        parts = []
        description = self._meta("description")
        if counts.get("manual"):
            parts.append(f"{description or 'the Python manual'} ({plural(counts['manual'], 'page')})")
        if counts.get("pydoc") or counts.get("module"):
            parts.append(description or "the documentation that ships with Python")
            if counts.get("pydoc"):
                parts.append(f"{counts['pydoc']} Python language-reference topics")
            if counts.get("module"):
                parts.append(f"{counts['module']} standard-library modules")
        if counts.get("file"):
            parts.append(f"{counts['file']} of your own documents")
        return ", ".join(parts) if parts else "nothing yet"


def open_default(path: Path | str | None = None, progress: Callable[[str], None] = print) -> KnowledgeBase:
    """Open a knowledge base, indexing the default corpus first if it is missing."""
    kb = KnowledgeBase(path)
    kb.ensure_default_corpus(progress)
    return kb

