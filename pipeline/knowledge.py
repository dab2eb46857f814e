"""The knowledge base: documents cut into sections, in a SQLite FTS5 index in one file.

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
from collections.abc import Callable, Iterable
from pathlib import Path

from . import corpus
from .manual import Manual, installed
from .sections import SCHEMA as SECTIONS_SCHEMA
from .sections import SectionIndex, delete_sections, insert_sections

__all__ = ("DEFAULT_PATH", "KnowledgeBase", "default_path")

# The project's own data/, wherever the server was started from (not the current directory).
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "knowledge.sqlite3"

# The sections (see ``sections``) are the index: each document's are replaced together.  FTS5's
# Porter stemmer is not used because it conflates the words this corpus is about ("generator",
# "general" and "generate" all become "gener"); ``_text.normalise`` folds plurals instead.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, kind TEXT NOT NULL, origin TEXT NOT NULL DEFAULT ''
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
                n_documents, n_sections = self._insert(documents, origin="python")
                choice = "auto" if manual is True or chosen is not None else "builtin"
                for key, value in (("default_corpus", _corpus_version(chosen)), ("description", description),
                                   ("default_choice", choice)):
                    self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise
        progress(
            f"Indexed {plural(n_documents, 'document')} ({plural(n_sections, 'section')}) "
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
        """Add or replace documents (same id replaces); returns (documents, sections) written."""
        with self._db:
            return self._insert(documents, origin)

    def _delete_where(self, condition: str, *params: str) -> None:
        ids = f"SELECT id FROM documents WHERE {condition}"
        delete_sections(self._db, ids, params)
        self._db.execute(f"DELETE FROM documents WHERE {condition}", params)

    def _insert(self, documents: Iterable[corpus.Document], origin: str) -> tuple[int, int]:
        n_docs = n_sections = 0
        for document in documents:
            self._delete_where("id = ?", document.id)
            self._db.execute(
                "INSERT INTO documents(id, title, kind, origin, trusted) VALUES (?, ?, ?, ?, ?)",
                (document.id, document.title, document.kind, origin, int(document.trusted)),
            )
            n_sections += insert_sections(self._db, document)
            n_docs += 1
        return n_docs, n_sections

    # -- reading -------------------------------------------------------------------

    def size(self) -> int:
        """How many sections the knowledge base holds."""
        row = self._db.execute("SELECT count(*) FROM sections").fetchone()
        return int(row[0])

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

