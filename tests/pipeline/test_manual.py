"""The manual: its reST read with docutils, and its Debian package unpacked without dpkg."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pipeline.corpus import manual_page
from pipeline.manual import _unpack, installed
from pipeline.rest_reader import parse_page

PAGE = """
:mod:`shelf` --- Keep things
============================

.. module:: shelf
   :synopsis: Keep things.

.. versionadded:: 3.99

This module keeps things; see :func:`~shelf.put` and :class:`Shelf`.
A :token:`python-grammar:thing` is kept.

.. function:: put(thing, *, where=None)

   Put *thing* on the shelf. Return its place.

   >>> put('book')
   1

   .. note::

      Heavy things must go low.

.. class:: Shelf(size)

   A shelf.

   .. method:: take(place)

      Take what is at *place*.

=====  =====
name   size
=====  =====
a|b    1
=====  =====

::

    for thing in things:
        put(thing)

.. index:: single: shelf
.. seealso:: :ref:`somewhere`
"""


def test_api_entries_keep_their_qualified_names_and_signatures() -> None:
    page = parse_page(PAGE)
    assert page.title == "`shelf` — Keep things" and page.module == "shelf"
    names = [s.api.signature for s in page.sections if s.api]
    assert names == ["shelf.put(thing, *, where=None)", "shelf.Shelf(size)", "shelf.Shelf.take(place)"]


def test_roles_become_code_and_sphinx_only_parts_go() -> None:
    blocks = [b for s in parse_page(PAGE).sections for b in s.blocks]
    texts = [b.text for b in blocks]
    assert "This module keeps things; see `put()` and `Shelf`. A `thing` is kept." in texts
    assert not any("versionadded" in t or "3.99" in t or "somewhere" in t or ":func:" in t for t in texts)
    assert any(b.kind == "note" and b.text == "**Note:** Heavy things must go low." for b in blocks)


def test_code_and_tables_survive() -> None:
    blocks = [b for s in parse_page(PAGE).sections for b in s.blocks]
    assert any(b.language == "pycon" and b.text == ">>> put('book')\n1" for b in blocks)
    assert any(b.language == "python" and b.text == "for thing in things:\n    put(thing)" for b in blocks)
    assert any(b.kind == "table" and b.text.splitlines()[2] == "| a\\|b | 1 |" for b in blocks)


def test_a_page_document_starts_entries_with_their_signature() -> None:
    document = manual_page("library/shelf", PAGE)
    assert document is not None and document.id == "manual:library/shelf" and document.trusted
    entry = next(s for s in document.sections if s.names == "shelf.put")
    assert entry.blocks is not None and entry.blocks[0].language == "signature"


def _deb(tmp_path: Path) -> Path:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        for name, text in {"./usr/share/doc/python3.99/html/_sources/tutorial/a.rst.txt": "A\n=\n",
                           "./usr/share/doc/python3.99/html/_sources/c-api/b.rst.txt": "B\n=\n",
                           "./usr/share/doc/python3.99/html/_sources/glossary.rst.txt": "G\n=\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text.encode()))
    body = data.getvalue()
    header = b"data.tar.gz/".ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
    header += str(len(body)).encode().ljust(10) + b"`\n"
    deb = tmp_path / "python3.99-doc.deb"
    deb.write_bytes(b"!<arch>\n" + header + body + (b"\n" if len(body) % 2 else b""))
    return deb


def test_the_package_is_unpacked_without_dpkg(tmp_path: Path) -> None:
    target = tmp_path / "manual"
    assert _unpack(_deb(tmp_path), target) == 2
    assert (target / "tutorial" / "a.rst.txt").read_text() == "A\n=\n"
    assert (target / "glossary" / "glossary.rst.txt").is_file()
    assert not (target / "c-api").exists()
    assert installed(target) is None, "no SOURCE stamp: an interrupted fetch is not a manual"


def test_the_manual_and_the_knowledge_base_are_found_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server started from another directory uses the project's data/, not one under its working directory."""
    from pipeline import manual
    from pipeline.knowledge import default_path

    project = Path(__file__).resolve().parents[2]
    monkeypatch.delenv("PYTHON_MANUAL", raising=False)
    monkeypatch.delenv("KNOWLEDGE_BASE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert manual.default_dir() == project / "data" / "python-manual"
    assert default_path() == project / "data" / "knowledge.sqlite3"
    if (project / "data" / "python-manual" / "SOURCE").is_file():
        assert installed() is not None, "the fetched manual is found"
