"""Whether a path can hold the knowledge base, checked before the server starts.

The knowledge base knows its own file (an SQLite database with a ``documents`` table), so the
check lives beside it: the service's settings call it and turn its ``ValueError`` into the one
line that names ``KNOWLEDGE_BASE``.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

__all__ = ("check_knowledge_base",)

_SQLITE_HEADER = b"SQLite format 3\x00"
# A table every knowledge base has: a database without it belongs to something else.
_KNOWLEDGE_BASE_TABLE = "documents"


def check_knowledge_base(path: Path) -> None:
    """A file the knowledge base can use: missing or empty (it is created and indexed), or a knowledge base.

    Anything else would fail in every course (``file is not a database``) while the server
    says it is healthy, or, for another application's SQLite database, get the knowledge
    base's tables added to it.
    """
    shown = repr(str(path))
    if not path.parent.is_dir():
        # A mistyped path would otherwise create its directories and index a new knowledge base there.
        raise ValueError(f"the directory {str(path.parent)!r} does not exist")
    if path.exists():
        if not path.is_file():
            raise ValueError(f"{shown} is not a file")
        try:
            with path.open("rb") as file:
                header = file.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise ValueError(f"{shown} cannot be read ({exc.strerror})") from None
        if header and header != _SQLITE_HEADER:
            raise ValueError(f"{shown} is not a knowledge base (not an SQLite database)")
        if header:
            try:
                with closing(sqlite3.connect(path, timeout=30)) as db:
                    tables = {str(row[0]) for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            except sqlite3.DatabaseError as exc:
                raise ValueError(f"{shown} is not a usable SQLite database ({exc})") from None
            if tables and _KNOWLEDGE_BASE_TABLE not in tables:
                raise ValueError(f"{shown} is an SQLite database but not a knowledge base")
        if not os.access(path, os.W_OK):
            raise ValueError(f"{shown} is not writable (it is indexed on first use, and kept in WAL mode)")
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"the directory {str(path.parent)!r} is not writable (SQLite keeps its journal there)")
