"""The course generator on the embedded default corpus (the interpreter's documentation)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from pipeline import stream_course_generation_progress
from pipeline.knowledge import KnowledgeBase


def generate(subject: str, kb: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events = list(stream_course_generation_progress(subject, {"knowledge_base": str(kb)}))
    assert events[-1]["type"] == "complete"
    return events[:-1], events[-1]["results"]


@pytest.mark.parametrize(
    ("subject", "expected_sources"),
    [
        ("generators", {"pydoc:yield"}),
        ("exceptions", {"pydoc:exceptions", "pydoc:try", "pydoc:raise"}),
        ("context managers", {"pydoc:context-managers", "pydoc:with", "module:contextlib"}),
        ("string formatting", {"pydoc:formatstrings"}),
        ("dictionaries", {"pydoc:typesmapping", "pydoc:dict"}),
        ("async/await", {"pydoc:async", "pydoc:await"}),
        ("threading", {"module:threading"}),
        ("json", {"module:json"}),
        ("the with statement", {"pydoc:with"}),
        ("for loops", {"pydoc:for"}),
    ],
)
def test_cites_the_documents_a_python_programmer_would_pick(
    default_kb: Path, subject: str, expected_sources: set[str]
) -> None:
    _, results = generate(subject, default_kb)
    cited = [s["id"] for s in results["sources"]]
    assert expected_sources <= set(cited), f"{subject}: cited {cited}"
    # ... and those come first, not after unrelated modules.
    assert set(cited[: len(expected_sources) + 1]) & expected_sources


def test_course_structure(default_kb: Path) -> None:
    events, results = generate("context managers", default_kb)
    markdown = results["markdown"]
    headings = re.findall(r"^(#{1,3}) (.+)$", markdown, re.M)
    names = [h[1] for h in headings]
    assert headings[0][0] == "#"
    assert "Learning objectives" in names
    assert any(re.match(r"\d+\. ", n) for n in names), "numbered sections"
    for required in ("Summary", "Quiz", "Answers", "Sources"):
        assert required in names
    assert "".join(e["content"] for e in events) == markdown, "content events add up to the course"
    assert len(events) >= 5, "the course is handed over section by section"
    assert set(results["timings"]) == {"retrieval_ms", "enhancement_ms", "generation_ms", "total_ms"}
    for source in results["sources"]:
        assert set(source) == {"id", "title", "score"}


def test_sections_are_about_the_subject(default_kb: Path) -> None:
    _, results = generate("context managers", default_kb)
    sections = re.split(r"^## \d+\. ", results["markdown"], flags=re.M)[1:]
    about = [s for s in sections if re.search(r"context manager|with|__enter__", s, re.I)]
    assert len(about) == len(sections)


def test_code_examples_are_kept_intact(default_kb: Path) -> None:
    _, results = generate("context managers", default_kb)
    assert "```python\nwith EXPRESSION as TARGET:\n    SUITE\n```" in results["markdown"]


def test_quiz_answers_are_right_according_to_the_sources(default_kb: Path) -> None:
    for subject in ("context managers", "exceptions", "json", "generators"):
        _, results = generate(subject, default_kb)
        markdown = results["markdown"]
        quiz = markdown[markdown.index("## Quiz") : markdown.index("### Answers")]
        answers = markdown[markdown.index("### Answers") : markdown.index("## Sources")]
        answer_by_number = dict(re.findall(r"^(\d+)\. (.+)$", answers, re.M))
        blanks = re.findall(r"^(\d+)\. Fill in the blank \(from `([^`]+)`\): (.+)$", quiz, re.M)
        assert answer_by_number, f"{subject}: no quiz"
        with KnowledgeBase(default_kb) as kb:
            for number, doc_id, sentence in blanks:
                answer = answer_by_number[number].strip("`")
                source = " ".join(" ".join(p.body.split()) for p in kb.passages(doc_id))
                filled = sentence.replace("`_____`", f'"{answer}"')
                # Undo the Markdown of the rest of the sentence to compare with the source text.
                plain = re.sub(r"`([^`]+)`", r'"\1"', filled).replace("\\", "")
                assert plain.replace("*", "") in source.replace("*", ""), f"{subject} Q{number}"


def test_an_unknown_subject_gets_a_short_honest_answer(default_kb: Path) -> None:
    _, results = generate("quantum chromodynamics", default_kb)
    assert results["known"] is False
    assert results["sources"] == []
    markdown = results["markdown"]
    assert markdown.startswith("# No course on “quantum chromodynamics”")
    assert "has nothing that covers" in markdown
    assert len(markdown) < 1500
    assert "## Quiz" not in markdown


@pytest.mark.parametrize("subject", ["<img src=x onerror=alert(1)> json", "<script>alert(1)</script>"])
def test_a_hostile_subject_is_escaped_in_the_markdown(default_kb: Path, subject: str) -> None:
    _, results = generate(subject, default_kb)
    # Rendered by a CommonMark renderer that lets raw HTML through: escaping alone must hold.
    html = MarkdownIt("commonmark").render(results["markdown"])
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html or "&lt;script&gt;" in html


def test_phases_are_printed_in_order(default_kb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate("json", default_kb)
    out = capsys.readouterr().out
    phases = re.findall(r"^PHASE (\d): (.+)$", out, re.M)
    assert phases == [("1", "KNOWLEDGE RETRIEVAL"), ("2", "CONTENT ENHANCEMENT"), ("3", "COURSE GENERATION")]
    assert re.search(r'^Query 1/\d+: "json" → \d+ documents$', out, re.M)


def test_empty_subject_is_refused(default_kb: Path) -> None:
    with pytest.raises(ValueError):
        list(stream_course_generation_progress("   ", {"knowledge_base": str(default_kb)}))
