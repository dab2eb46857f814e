"""The course generator on the fallback corpus (the documentation that ships with the interpreter),
and what any course must be: structured, escaped, in phases.  The manual's courses are judged in
``test_course_quality.py``."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from pipeline import stream_course_generation_progress
from pipeline.knowledge import KnowledgeBase


@pytest.fixture(scope="module")
def builtin_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fallback corpus, as the service uses it when the manual cannot be had."""
    path = tmp_path_factory.mktemp("builtin") / "knowledge.sqlite3"
    with KnowledgeBase(path) as kb:
        kb.ensure_default_corpus(progress=lambda line: None, manual=False)
        assert kb.corpus() == "builtin"
        assert "could not be fetched" in kb.describe()
        assert "run make manual" in kb.describe(), "the Makefile's target, not a module learners cannot run"
    return path


def generate(subject: str, kb: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events = list(stream_course_generation_progress(subject, {"knowledge_base": str(kb)}))
    assert events[-1]["type"] == "complete"
    return events[:-1], events[-1]["results"]


@pytest.mark.parametrize(
    ("subject", "expected_sources"),
    [
        ("generators", {"pydoc:yield", "pydoc:types"}),
        ("exceptions", {"pydoc:exceptions", "pydoc:try", "pydoc:raise"}),
        ("context managers", {"pydoc:context-managers", "pydoc:with", "module:contextlib"}),
        ("string formatting", {"pydoc:formatstrings"}),
        ("dictionaries", {"pydoc:typesmapping", "pydoc:dict"}),
        ("async/await", {"pydoc:async", "pydoc:await"}),
        ("threading", {"module:threading"}),
        ("json", {"module:json"}),
        ("the with statement", {"pydoc:with", "pydoc:context-managers", "module:contextlib"}),
        ("for loops", {"pydoc:for", "pydoc:compound"}),
    ],
)
def test_cites_the_documents_a_python_programmer_would_pick(
    builtin_kb: Path, subject: str, expected_sources: set[str]
) -> None:
    _, results = generate(subject, builtin_kb)
    cited = [s["id"] for s in results["sources"]]
    # One of them at least, and among the first: the fallback has no tutorial to prefer.
    assert set(cited[:2]) & expected_sources, f"{subject}: cited {cited}"


def test_course_structure(builtin_kb: Path) -> None:
    events, results = generate("context managers", builtin_kb)
    markdown = results["markdown"]
    headings = re.findall(r"^(#{1,3}) (.+)$", markdown, re.M)
    names = [h[1] for h in headings]
    assert headings[0][0] == "#"
    assert "Learning objectives" in names
    assert any(re.match(r"\d+\. ", n) for n in names), "numbered sections"
    for required in ("Summary", "Sources"):
        assert required in names
    assert ("Quiz" in names) == ("Answers" in names)
    assert "".join(e["content"] for e in events) == markdown, "content events add up to the course"
    assert len(events) >= 5, "the course is handed over section by section"
    assert set(results["timings"]) == {"retrieval_ms", "enhancement_ms", "generation_ms", "total_ms"}
    for source in results["sources"]:
        assert set(source) == {"id", "title", "score", "url"}


def test_sections_are_about_the_subject(builtin_kb: Path) -> None:
    _, results = generate("context managers", builtin_kb)
    sections = re.split(r"^## \d+\. ", results["markdown"], flags=re.M)[1:]
    about = [s for s in sections if re.search(r"context manager|with|__enter__", s, re.I)]
    assert len(about) == len(sections)


def test_code_in_a_course_is_valid_python(builtin_kb: Path) -> None:
    for subject in ("context managers", "json", "exceptions"):
        _, results = generate(subject, builtin_kb)
        for code in re.findall(r"^ *```python\n(.*?)\n *```", results["markdown"], re.S | re.M):
            ast.parse(textwrap.dedent(code))


def test_every_source_is_a_section_the_knowledge_base_holds(builtin_kb: Path) -> None:
    for subject in ("context managers", "exceptions", "json", "generators"):
        _, results = generate(subject, builtin_kb)
        with KnowledgeBase(builtin_kb) as kb:
            for source in results["sources"]:
                doc_id = str(source["id"]).partition("#")[0]
                names = {s.name for s in kb.sections.of_page(doc_id)}
                assert str(source["title"]).split(" — ")[0] in names, (subject, source)


def test_an_unknown_subject_gets_a_short_honest_answer(builtin_kb: Path) -> None:
    _, results = generate("quantum chromodynamics", builtin_kb)
    assert results["known"] is False
    assert results["sources"] == []
    markdown = results["markdown"]
    assert markdown.startswith("# No course on “quantum chromodynamics”")
    assert "has nothing that covers" in markdown
    assert len(markdown) < 1500
    assert "## Quiz" not in markdown


@pytest.mark.parametrize("subject", ["<img src=x onerror=alert(1)> json", "<script>alert(1)</script>"])
def test_a_hostile_subject_is_escaped_in_the_markdown(builtin_kb: Path, subject: str) -> None:
    _, results = generate(subject, builtin_kb)
    # Rendered by a CommonMark renderer that lets raw HTML through: escaping alone must hold.
    html = MarkdownIt("commonmark").render(results["markdown"])
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html or "&lt;script&gt;" in html


def test_phases_are_printed_in_order(builtin_kb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate("json", builtin_kb)
    out = capsys.readouterr().out
    phases = re.findall(r"^PHASE (\d): (.+)$", out, re.M)
    assert phases == [("1", "KNOWLEDGE RETRIEVAL"), ("2", "CONTENT ENHANCEMENT"), ("3", "COURSE GENERATION")]
    assert re.search(r'^Lookup 1: .+ → \d+ sections?$', out, re.M)
    assert re.search(r'^Retriever: (section|entry) ".+" \(.+\)$', out, re.M), "the sections it chose, by name"
    assert out.startswith("Knowledge base: "), "the first line says which corpus is in use"


def test_empty_subject_is_refused(builtin_kb: Path) -> None:
    with pytest.raises(ValueError):
        list(stream_course_generation_progress("   ", {"knowledge_base": str(builtin_kb)}))


def test_the_language_model_gets_api_names_examples_and_bounds(default_kb: Path) -> None:
    from pipeline.enhancer import ContentEnhancerAgent
    from pipeline.llm import MAX_PROMPT_CHARS, check_citations, course_messages
    from pipeline.retriever import KnowledgeRetrieverAgent

    with KnowledgeBase(default_kb) as kb:
        if kb.corpus() != "manual":
            pytest.skip("the Python manual is not available here (make manual)")
        retrieval = KnowledgeRetrieverAgent(kb, say=lambda line: None).retrieve("pathlib.Path")
        outline = ContentEnhancerAgent(say=lambda line: None, trusted=kb.is_trusted).enhance(retrieval)
    system, user = course_messages(outline)
    assert "not about the subject is to be\nignored" in system["content"]
    assert "API: pathlib.Path" in user["content"] and "Example (ran):" in user["content"]
    assert len(user["content"]) <= MAX_PROMPT_CHARS + 200
    assert check_citations("as [1] and [2] say, and [9]", 2) == [9]
