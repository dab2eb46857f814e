"""What a Python teacher would check in every course, over the whole tuning list of subjects
(``bench/subjects_tuning.txt``): the subject's own code in at least two examples, every output shown
equal to a fresh run of the code shown, quiz questions that are not the examples again, French
headings for a French subject, and honest declines."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bench.course_samples import read_subjects
from pipeline import stream_course_generation_progress
from pipeline.examples import Example, prepare, run_session

TUNING = read_subjects(Path(__file__).resolve().parents[2] / "bench" / "subjects_tuning.txt")

# What each subject's code must show: its API or its syntax, as a teacher would look for it.
SHOWS: dict[str, str] = {
    "*args and **kwargs": r"\*\w+|\*\*\w+", "string methods (split, join, strip)": r"\.(split|join|strip)\(",
    "how do I make my code faster?": r"\btimeit\b|\bprofile\b|\bTimer\b", "how do I read a file": r"\bopen\(|\.read",
    "sorting with key functions": r"\bkey=", "f-strings": r"\bf['\"]", "context managers": r"\bwith\b|__enter__",
    "the with statement": r"\bwith\b", "generators": r"\byield\b|\bfor\b.+\bin\b.+\)", "iterators": r"\biter\(|next\(",
    "list comprehensions": r"\[.+\bfor\b.+\bin\b", "closures and nonlocal": r"\bnonlocal\b",
    "decorators": r"^\s*@\w", "lru_cache": r"@lru_cache|lru_cache\(", "@property": r"\bproperty\b",
    "lambda": r"\blambda\b", "classes and inheritance": r"\bclass\b", "exceptions": r"\btry\b|\braise\b|\bexcept\b",
    "sets": r"\bset\(|\{[^:{}]+\}", "dictionaries": r"\{[^{}]*:|\bdict\(", "pathlib": r"\bPath\b|pathlib",
    "regular expressions": r"\bre\.", "logging": r"\blogging\b", "json": r"\bjson\.", "dataclasses": r"@dataclass",
    "enum": r"\bEnum\b", "collections.Counter": r"\bCounter\(",
    "itertools": r"\bitertools\b|\b(?:count|cycle|repeat|islice|chain|accumulate)\(",
    "match statement": r"\bmatch\b", "type hints": r"->|:\s*\w+\s*[,=)]", "unittest": r"\bunittest\b",
    "asyncio coroutines and tasks": r"\basync def\b|\bawait\b|asyncio\.", "descriptors": r"__get__|__set_name__",
    "default argument values": r"def \w+\([^)]*=",
    "les générateurs": r"\byield\b", "les listes": r"\[", "gestionnaires de contexte": r"\bwith\b|__enter__",
    "how do I sort a list?": r"\.sort\(|\bsorted\(", "how do I reverse a list?": r"\.reverse\(|\[::-1\]|reversed\(",
    "the math module": r"\bmath\.", "datetime": r"\bdate(time)?\b|\btimedelta\b",
    "scopes and namespaces": r"\bnonlocal\b|\bglobal\b", "unpacking argument lists": r"\(\*\w+|\(\*\*\w+",
    "string formatting": r"\.format\(", "enumerate": r"\benumerate\(",
}
FRENCH = {"les générateurs": "generators", "gestionnaires de contexte": "context managers"}
REFUSED = {
    "thanks!": "small talk", "hello": "small talk", "now make it shorter": "follow-up",
    "give me more examples": "follow-up", "quantum chromodynamics": "No course on",
    "chocolate cake recipe": "No course on", "the french revolution": "No course on",
    "banana bread recipes": "No course on",  # "banana" recurs in the tutorial's lists, "Recipes" in headings
    "gardening tips for tomatoes": "No course on",
}
# An example as a course shows it: its code, then what it prints (or that it prints nothing).
_EXAMPLE = re.compile(r"```python\n(.*?)\n```\n\n(?:(?:It prints|Il affiche)[^\n]*:\n\n```text\n(.*?)\n```|"
                      r"It prints nothing|Il n'affiche rien)", re.S)
_VARIES = re.compile(r"from run to run|d'une exécution à l'autre")
_TOO_LITTLE = re.compile(r"that runs on its own and prints what it does|qui s'exécute seul et affiche")


@cache
def _course(subject: str, kb: str) -> dict[str, Any]:
    events = list(stream_course_generation_progress(subject, {"knowledge_base": kb}))
    assert events[-1]["type"] == "complete"
    results: dict[str, Any] = events[-1]["results"]
    return results


def course(subject: str, kb: Path) -> dict[str, Any]:
    return _course(subject, str(kb))


def part(markdown: str, start: str, end: str) -> str:
    begin = markdown.find(start)
    if begin < 0:
        return ""
    stop = markdown.find(end, begin)
    return markdown[begin : stop if stop >= 0 else len(markdown)]


def lesson(markdown: str) -> str:
    return part(markdown, "Lesson and examples\n", "\n## ") or part(markdown, "Leçon et exemples\n", "\n## ")


def test_every_tuning_subject_says_what_its_code_must_show() -> None:
    assert set(TUNING) == set(SHOWS)


@pytest.mark.parametrize("subject", TUNING)
def test_a_course_shows_the_subjects_own_code_in_at_least_two_examples(manual_kb: Path, subject: str) -> None:
    results = course(subject, manual_kb)
    assert results["known"], subject
    examples = _EXAMPLE.findall(lesson(results["markdown"]))
    assert len(examples) >= 2 or _TOO_LITTLE.search(results["markdown"]), f"{subject}: {len(examples)} examples"
    if len(examples) >= 2 or not _TOO_LITTLE.search(results["markdown"]):
        assert any(re.search(SHOWS[subject], code, re.M) for code, _ in examples), f"{subject}: not its own code"
    for code, _ in examples:
        ast.parse(code)


@pytest.mark.parametrize("subject", TUNING)
def test_every_output_shown_is_what_a_fresh_run_of_the_code_shown_prints(manual_kb: Path, subject: str) -> None:
    markdown = course(subject, manual_kb)["markdown"]
    # Each section's examples run as one session, in their order: a later one may use what an earlier defined.
    for section in re.split(r"^### ", lesson(markdown), flags=re.M)[1:]:
        shown = [(m.group(1), m.group(2) or "", bool(_VARIES.search(m.group(0))))
                 for m in _EXAMPLE.finditer(section)]
        # An import alone is shown too (it prints nothing); ``prepare`` leaves such a script out.
        prepared = [prepare(code, "python") or Example(((code, False),), "", False) for code, _, _ in shown]
        runs = run_session(prepared)
        for (code, output, varies), result in zip(shown, runs, strict=True):
            assert result is not None and result.ok, f"{subject}: {code}"
            if not varies:
                assert result.output == output, f"{subject}: {code}"


@pytest.mark.parametrize("subject", TUNING)
def test_a_quiz_question_is_never_an_example_with_its_answer(manual_kb: Path, subject: str) -> None:
    markdown = course(subject, manual_kb)["markdown"]
    quiz = part(markdown, "## Quiz", "### ")
    shown = {code for code, _ in _EXAMPLE.findall(lesson(markdown))}
    prose = " ".join(re.sub(r"```.*?```", "", lesson(markdown), flags=re.S).split())
    for question in re.split(r"^\d+\. ", quiz, flags=re.M)[1:]:
        for code in re.findall(r"```python\n(.*?)\n\s*```", question, re.S):
            assert re.sub(r"^   ", "", code, flags=re.M) not in shown, f"{subject}: an example asked again"
        words = re.sub(r"```.*?```", "", question, flags=re.S)
        for sentence in re.findall(r"“([^”]{40,})”", words):
            assert sentence not in prose, f"{subject}: a sentence of the lesson quoted back"


@pytest.mark.parametrize("subject", TUNING)
def test_a_changed_example_in_the_quiz_is_answered_by_a_real_run(manual_kb: Path, subject: str) -> None:
    markdown = course(subject, manual_kb)["markdown"]
    quiz, answers = part(markdown, "## Quiz", "### "), part(markdown, "### Answers", "## Sources")
    answers = part(markdown, "### Réponses", "## Sources") or answers
    changed = re.findall(r"^(\d+)\. (?:Example|On modifie l'exemple) (\d+)(.*?)\n\n   ```python\n(.*?)\n   ```",
                         quiz, re.M | re.S)
    examples = _EXAMPLE.findall(lesson(markdown))
    for number, example, asked, code in changed:
        code = re.sub(r"^   ", "", code, flags=re.M)
        answer = re.search(rf"^{number}\. [^\n]*\n\n   ```text\n(.*?)\n   ```", answers, re.M | re.S)
        assert answer is not None, f"{subject} Q{number}"
        expected = re.sub(r"^   ", "", answer.group(1), flags=re.M)
        # What it builds on, when it says it does: the examples before it, as the lesson ran them.
        builds_on = "(It runs after" in asked or "(Il s'exécute après" in asked
        setup = [p for c, _ in examples[: int(example) - 1] if builds_on and (p := prepare(c, "python")) is not None]
        target = prepare(code, "python")
        assert target is not None
        result = run_session([*setup, target])[-1]
        whole = re.search(rf"^{number}\. (.*?)(?=^\d+\. |\Z)", answers, re.M | re.S)
        stops = whole is not None and re.search(r"(?:Then it stops with this error|Puis il s'arrête sur cette "
                                                r"erreur) ?:\n\n   ```text\n(.*?)\n   ```", whole.group(1), re.S)
        if stops:  # a declaration taken out: what it printed before the traceback, then Python's error
            error = re.sub(r"^   ", "", stops.group(1), flags=re.M)
            assert result is not None and not result.ok and result.error == error, f"{subject} Q{number}"
            assert result.output.split("Traceback")[0].rstrip() == expected, f"{subject} Q{number}"
            continue
        assert result is not None and result.ok and result.output == expected, f"{subject} Q{number}"
        original = examples[int(example) - 1][1] if int(example) <= len(examples) else None
        assert expected != original, f"{subject} Q{number}: the change changes nothing"


@pytest.mark.parametrize("subject", [s for s in TUNING if s in FRENCH] + ["les listes"])
def test_a_french_subject_gets_french_headings_and_links_to_the_french_pages(manual_kb: Path, subject: str) -> None:
    markdown = course(subject, manual_kb)["markdown"]
    headings = re.findall(r"^##+ (?:\d+\. )?(.+)$", markdown, re.M)
    assert {"Objectifs", "Résumé", "Sources"} <= set(headings), headings
    assert not {"Learning objectives", "Summary", "What it is", "Answers"} & set(headings), headings
    assert markdown.count("cité en anglais") == 1, "the manual's English, said once"
    assert "https://docs.python.org/fr/3/" in markdown
    if "## Quiz" in markdown:
        assert "### Réponses" in markdown


@pytest.mark.parametrize(("french", "english"), sorted(FRENCH.items()))
def test_a_french_subject_finds_the_same_sections_as_its_english_equivalent(
    manual_kb: Path, french: str, english: str
) -> None:
    fr, en = course(french, manual_kb), course(english, manual_kb)
    assert fr["known"] and en["known"]
    assert [s["id"] for s in fr["sources"]] == [s["id"] for s in en["sources"]]


@pytest.mark.parametrize(("subject", "why"), sorted(REFUSED.items()))
def test_what_is_not_a_python_subject_gets_a_short_honest_answer(manual_kb: Path, subject: str, why: str) -> None:
    results = course(subject, manual_kb)
    assert results["known"] is False and results["sources"] == []
    assert why in results["markdown"] or (why == "follow-up" and "follow-up" in results["markdown"])
    assert "## Quiz" not in results["markdown"]
    assert len(results["markdown"]) < 1500


def test_a_subject_partly_known_says_what_is_missing(manual_kb: Path) -> None:
    results = course("closures and nonlocal", manual_kb)
    assert results["known"]
    assert "Only part of this subject is covered" in results["markdown"]
    assert "*closure*" in results["markdown"]


def test_an_output_that_depends_on_hash_order_is_marked_and_never_asked(manual_kb: Path) -> None:
    markdown = course("sets", manual_kb)["markdown"]
    marked = [m for m in _EXAMPLE.finditer(lesson(markdown)) if re.search(r"\{'\w+', '", m.group(2) or "")]
    assert marked, "the tutorial's sets of fruit print in hash order"
    for match in marked:
        assert _VARIES.search(match.group(0))
        assert match.group(2) not in part(markdown, "### Answers", "## Sources")


def test_the_progress_names_the_sections_chosen_and_the_examples_run(
    manual_kb: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    list(stream_course_generation_progress("*args and **kwargs", {"knowledge_base": str(manual_kb)}))
    progress = capsys.readouterr().out
    assert progress.startswith("Knowledge base: the Python 3.")
    assert 'Retriever: section "Arbitrary Argument Lists" (tutorial/controlflow)' in progress
    assert re.search(r'^Running the examples of section "Arbitrary Argument Lists": \d+ of \d+ ran in \d+ ms',
                     progress, re.M)
    assert not re.search(r"\b1 (sources|sections|examples|questions)\b", progress)


@pytest.mark.parametrize("subject", ["logging", "asyncio coroutines and tasks"])
def test_examples_that_wait_do_not_hold_a_course_up(manual_kb: Path, subject: str) -> None:
    results = course(subject, manual_kb)
    assert results["timings"]["enhancement_ms"] < 5000, results["timings"]


# Courses whose sections give too little to ask about (reference prose, code that prints nothing): known
# gaps, listed so that the others keep their two questions.
QUIZ_SHORT = {"classes and inheritance", "descriptors", "how do I read a file", "@property",
              "regular expressions", "match statement"}


@pytest.mark.parametrize("subject", TUNING)
def test_a_quiz_has_two_to_four_questions(manual_kb: Path, subject: str) -> None:
    quiz = part(course(subject, manual_kb)["markdown"], "## Quiz", "### ")
    count = len(re.findall(r"^\d+\. ", quiz, re.M))
    assert count <= 4, f"{subject}: {count} questions"
    assert count >= 2 or subject in QUIZ_SHORT, f"{subject}: {count} questions"


def test_the_quiz_asks_what_the_order_of_except_clauses_and_an_empty_set_literal_do(manual_kb: Path) -> None:
    answers = part(course("exceptions", manual_kb)["markdown"], "## Quiz", "## Sources")
    assert "`except D, except C, except B` becomes `except B, except C, except D`" in answers
    assert "```text\n   B\n   B\n   B\n   ```" in answers, "the first clause that matches wins"
    quiz = part(course("sets", manual_kb)["markdown"], "## Quiz", "## Sources")
    assert "Find the bug: this code writes `{}` where it means what `set()` makes." in quiz
    assert "<class 'dict'> {}" in quiz and "`set()` instead prints `<class 'set'> set()`" in quiz


def test_a_which_one_question_about_a_concept_offers_the_built_ins_its_code_uses(manual_kb: Path) -> None:
    quiz = part(course("exceptions", manual_kb)["markdown"], "## Quiz", "### ")
    which = re.search(r"Which of these matches this description: “(.*?)”\?\n\n((?:   - .*\n)+)", quiz)
    assert which is not None and "Error" in which.group(2), quiz
    assert which.group(1).startswith("Raised when"), "an exception of the lesson's code, described"
