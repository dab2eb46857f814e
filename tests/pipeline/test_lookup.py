"""The lookup: a subject's sections found as the manual's readers find them, by index term,
heading, glossary entry and API name."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.knowledge import KnowledgeBase
from pipeline.rest_reader import parse_page
from pipeline.retriever import KnowledgeRetrieverAgent, Retrieval

PAGE = """
More on Defining Functions
==========================

.. _tut-arbitraryargs:

Arbitrary Argument Lists
------------------------

.. index::
   single: * (asterisk); in function calls

Finally, the least frequently used option is to specify that a function can be
called with an arbitrary number of arguments (see :ref:`tut-tuples`)::

   def write_multiple_items(file, separator, *args):
       file.write(separator.join(args))

.. index:: pair: function; annotations

Function Annotations
--------------------

Annotations are optional.
"""


def test_index_entries_and_labels_are_kept_with_the_section_they_point_at() -> None:
    sections = {s.heading: s for s in parse_page(PAGE).sections}
    arbitrary = sections["Arbitrary Argument Lists"]
    assert arbitrary.terms == ["* (asterisk); in function calls"]
    assert arbitrary.path == ("More on Defining Functions", "Arbitrary Argument Lists")
    assert arbitrary.anchor == "arbitrary-argument-lists" and "tut-arbitraryargs" in arbitrary.labels
    # An entry placed just before a heading points at that heading's section.
    assert sections["Function Annotations"].terms == ["function; annotations"]
    assert "⸨tut-tuples⸩" in arbitrary.blocks[0].text, "a reference is kept, to become a link"


def look_up(subject: str, kb: Path) -> Retrieval:
    with KnowledgeBase(kb) as knowledge:
        return KnowledgeRetrieverAgent(knowledge, say=lambda line: None).retrieve(subject)


def names(retrieval: Retrieval) -> list[tuple[str, str]]:
    return [(s.name, s.page) for s in retrieval.sections]


@pytest.mark.parametrize(
    ("subject", "first", "also"),
    [
        ("*args and **kwargs", ("Arbitrary Argument Lists", "tutorial/controlflow"),
         ("Unpacking Argument Lists", "tutorial/controlflow")),
        ("how do I make my code faster?", ("Performance Measurement", "tutorial/stdlib"), None),
        ("how do I read a file", ("Reading and Writing Files", "tutorial/inputoutput"), None),
        ("les générateurs", ("Generators", "tutorial/classes"), None),
        ("lambda", ("Lambda Expressions", "tutorial/controlflow"), None),
        ("f-strings", ("Formatted String Literals", "tutorial/inputoutput"), None),
        ("match statement", ("match Statements", "tutorial/controlflow"), None),
    ],
)
def test_a_tutorial_or_howto_section_headed_with_the_subject_comes_first(
    manual_kb: Path, subject: str, first: tuple[str, str], also: tuple[str, str] | None
) -> None:
    found = names(look_up(subject, manual_kb))
    assert found[0] == first, found
    if also is not None:
        assert also in found, found


@pytest.mark.parametrize(
    ("subject", "entries"),
    [
        ("string methods (split, join, strip)", ["str.split", "str.join", "str.strip"]),
        ("collections.Counter", ["collections.Counter"]),
        ("lru_cache", ["functools.lru_cache"]),
        ("@property", ["property"]),
    ],
)
def test_the_api_a_subject_names_is_its_entry(manual_kb: Path, subject: str, entries: list[str]) -> None:
    retrieval = look_up(subject, manual_kb)
    assert [a.api_name for a in retrieval.api] == entries
    assert all(a in retrieval.sections for a in retrieval.api), "the entries are sources of the course"


def test_a_question_about_speed_finds_timeit(manual_kb: Path) -> None:
    pages = {s.page for s in look_up("how do I make my code faster?", manual_kb).sections}
    assert "library/timeit" in pages, pages


def test_a_module_finds_its_page(manual_kb: Path) -> None:
    pages = [s.page for s in look_up("itertools", manual_kb).sections]
    assert "library/itertools" in pages, pages


@pytest.mark.parametrize(
    ("question", "section", "entry"),
    [
        ("how do I copy a list?", ("More on Lists", "tutorial/datastructures"), "list.copy"),
        ("how do I sort a list?", ("Sorting Basics", "howto/sorting"), "list.sort"),
    ],
)
def test_a_question_is_looked_up_by_its_topic_not_a_generic_word(
    manual_kb: Path, question: str, section: tuple[str, str], entry: str
) -> None:
    retrieval = look_up(question, manual_kb)
    assert retrieval.known and not retrieval.missing, retrieval.missing
    assert section in names(retrieval), names(retrieval)
    assert entry in [a.api_name for a in retrieval.api]
    assert ("Using Lists as Stacks", "tutorial/datastructures") not in names(retrieval), "another question's"


def test_a_module_named_as_a_word_is_taught_by_the_lesson_whose_code_uses_it(manual_kb: Path) -> None:
    found = names(look_up("the math module", manual_kb))
    assert found[0] == ("Mathematics", "tutorial/stdlib"), found
    assert ("math — Mathematical functions", "library/math") in found, found
    found = names(look_up("datetime", manual_kb))
    assert ("Dates and Times", "tutorial/stdlib") in found and all(p != "howto/enum" for _, p in found), found


def test_the_glossary_defines_the_subject_itself_or_nothing(manual_kb: Path) -> None:
    assert (glossary := look_up("lambda", manual_kb).glossary) is not None and glossary.heading == "lambda"
    assert look_up("the with statement", manual_kb).glossary is None, "never a nearby word's entry"
    see = look_up("*args and **kwargs", manual_kb).glossary
    assert see is not None and see.heading == "argument", "“keyword argument: See argument.” is followed"


def test_sources_link_their_section_on_docs_python_org(manual_kb: Path) -> None:
    retrieval = look_up("*args and **kwargs", manual_kb)
    assert retrieval.sections[0].url() == "https://docs.python.org/3/tutorial/controlflow.html#arbitrary-argument-lists"
    assert retrieval.sections[0].url(french=True).startswith("https://docs.python.org/fr/3/tutorial/controlflow.html")


@pytest.mark.parametrize("subject", ["quantum chromodynamics", "banana bread recipes", "the french revolution"])
def test_words_no_heading_index_entry_or_name_covers_are_declined(manual_kb: Path, subject: str) -> None:
    retrieval = look_up(subject, manual_kb)
    assert not retrieval.known and not retrieval.sections
