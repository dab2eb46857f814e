"""Add your own documents to a knowledge base.

    python -m pipeline.ingest docs/ [more paths …] [--knowledge-base data/knowledge.sqlite3]

Markdown, reStructuredText, plain text and HTML files are read (folders
recursively); each becomes a source with the id ``file:<folder>/<relative path>``.
Ingesting a file again replaces it.  ``--trust-code`` lets courses run the
documents' code examples (see ``pipeline.examples``); without it their examples
are left out of courses, since every example a course shows has run.  ``--without-python-docs``
makes a knowledge base of your documents only, and it stays so: the service does not add the
Python documentation to it when it opens it.  The service uses the knowledge base named
by ``$KNOWLEDGE_BASE`` (default ``data/knowledge.sqlite3``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .files import SUPPORTED_SUFFIXES, load_folder
from .knowledge import KnowledgeBase, default_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.ingest", description="Add documents to the course generator's knowledge base."
    )
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders to ingest")
    parser.add_argument(
        "--knowledge-base", type=Path, default=None, help=f"knowledge-base file (default: {default_path()})"
    )
    parser.add_argument(
        "--trust-code",
        action="store_true",
        help="let courses run these documents' code examples (in a limited process) to show real output",
    )
    parser.add_argument(
        "--without-python-docs",
        action="store_true",
        help="do not index the Python documentation into this knowledge base (only your documents)",
    )
    args = parser.parse_args(argv)
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        parser.error(f"no such file or folder: {', '.join(map(str, missing))}")
    with KnowledgeBase(args.knowledge_base) as kb:
        if args.without_python_docs:
            kb.without_default_corpus()  # remembered: the service will not index the manual into it either
        elif not kb.has_python_docs():
            print(f"{kb.path} was built without the Python documentation (--without-python-docs): kept so.")
        else:
            kb.ensure_default_corpus()
        total_docs = 0
        for path in args.paths:
            documents, sections = kb.add_documents(
                (replace(d, trusted=args.trust_code) for d in load_folder(path)), origin=str(path.resolve())
            )
            print(f"{path}: {documents} documents, {sections} sections")
            total_docs += documents
        if total_docs == 0:
            print(f"No supported files found (supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}).", file=sys.stderr)
            return 1
        print(f"Knowledge base {kb.path}: {kb.describe()}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
