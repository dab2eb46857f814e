"""What a Python teacher would require of the courses, on the manual: the right API names, examples
that run (with their real output), quizzes whose answers are right, and honest refusals."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pipeline import stream_course_generation_progress
from pipeline.examples import Example, run
from pipeline.knowledge import KnowledgeBase

# subject → what the course must contain (each a regular expression on the Markdown).
REQUIRED: dict[str, list[str]] = {
    "sorting with key functions": [r"`sorted\(\)`", r"key=", r"\[1, 2, 3, 4, 5\]"],
    "f-strings": [r"f'", r"[Ff]ormatted string literal"],
    "context managers": [r"`with`", r"__enter__", r"__exit__"],
    "generators": [r"\byield\b", r"generator"],
    "list comprehensions": [r"\bfor\b.*\bin\b", r"list comprehension"],
    "closures and nonlocal": [r"nonlocal", r"scope"],
    "descriptors": [r"__get__", r"descriptor"],
    "decorators": [r"@", r"decorator"],
    "exceptions": [r"\btry\b", r"\bexcept\b", r"raise"],
    "asyncio coroutines and tasks": [r"async def", r"\bawait\b", r"asyncio\.\w+"],
    "pathlib": [r"pathlib", r"Path"],
    "regular expressions": [r"re\.(compile|search|match)", r"pattern"],
    "dictionaries": [r"\bdict\b|dictionar", r"key"],
    "logging": [r"logging\.(getLogger|info|warning|basicConfig)", r"logger"],
    "the with statement": [r"`with`|with statement", r"__enter__|context manager"],
    "json": [r"json\.(dumps|loads)"],
    "dataclasses": [r"@dataclass|dataclasses\.dataclass", r"field"],
    "enum": [r"Enum"],
}
FRENCH = {"les générateurs": "generators", "gestionnaires de contexte": "context managers",
          "les fermetures et nonlocal": "closures and nonlocal"}
REFUSED = {
    "thanks!": "small talk",
    "hello": "small talk",
    "now make it shorter": "follow-up",
    "give me more examples": "follow-up",
    "quantum chromodynamics": "No course on",
    "chocolate cake recipe": "No course on",
    "the french revolution": "No course on",
    "banana bread recipes": "No course on",  # "banana" recurs in the tutorial's lists, "Recipes" in headings
    "gardening tips for tomatoes": "No course on",
}

# Subjects whose course honestly shows no example, none of the manual's running on its own.
WITHOUT_RUNNABLE_EXAMPLES: frozenset[str] = frozenset()
# More subjects a teacher would ask for, beyond those with required content above.
MORE_SUBJECTS = ["iterators", "lambda", "string methods", "classes and inheritance", "properties",
                 "itertools", "collections.Counter", "match statement", "les listes", "les exceptions"]
# Words that point at text a course does not show (a passage cut out of its page keeps them).
ELSEWHERE = re.compile(
    r"\b(the example above|examples above|(?:methods|functions) below|see below|as follows|the following|"
    r"mentioned earlier|next section|previous section|this (?:table|section|subsection|chapter|page)|"
    r"see also|see section|here are)\b|(?<=[ .])\[(?:\d+|#)\]",
    re.I,
)

_PYTHON_BLOCK = re.compile(r"^( *)```python\n(.*?)\n\1```", re.S | re.M)


@pytest.fixture(scope="module")
def manual_kb(default_kb: Path) -> Path:
    with KnowledgeBase(default_kb) as kb:
        if kb.corpus() != "manual":
            pytest.skip("the Python manual is not available here (make manual)")
    return default_kb


@cache
def _course(subject: str, kb: str) -> dict[str, Any]:
    events = list(stream_course_generation_progress(subject, {"knowledge_base": kb}))
    assert events[-1]["type"] == "complete"
    results: dict[str, Any] = events[-1]["results"]
    return results


def course(subject: str, kb: Path) -> dict[str, Any]:
    return _course(subject, str(kb))


def _python_blocks(markdown: str) -> list[str]:
    return [re.sub(rf"^{m.group(1)}", "", m.group(2), flags=re.M) for m in _PYTHON_BLOCK.finditer(markdown)]


@pytest.mark.parametrize("subject", sorted(REQUIRED))
def test_a_course_has_what_a_teacher_requires(manual_kb: Path, subject: str) -> None:
    results = course(subject, manual_kb)
    assert results["known"], subject
    markdown = results["markdown"]
    for pattern in REQUIRED[subject]:
        assert re.search(pattern, markdown), f"{subject}: missing {pattern!r}"
    headings = re.findall(r"^## (?:\d+\. )?(.+)$", markdown, re.M)
    assert headings[0] == "Learning objectives" and headings[1] == "What it is", headings
    assert headings[-3:] == ["Summary", "Quiz", "Sources"]
    summary = re.findall(r"^- .+$", markdown[markdown.index("## Summary") : markdown.index("## Quiz")], re.M)
    assert len(summary) == len(set(summary)), f"{subject}: a summary point said twice"
    assert not re.search(r":(func|class|meth|mod|ref|term):`|^\.\. \w", markdown, re.M), "reST leaks"
    titles = "".join(source["title"] for source in results["sources"])
    assert "`" not in titles, "source titles are text, not Markdown"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\ufffd]", markdown + titles), "no control character or mangled text"


@pytest.mark.parametrize("subject", sorted(REQUIRED))
def test_every_python_block_parses_and_every_example_ran(manual_kb: Path, subject: str) -> None:
    results = course(subject, manual_kb)
    markdown = results["markdown"]
    ran = {e["code"]: e["output"] for e in results["examples_run"]}
    assert bool(ran) is (subject not in WITHOUT_RUNNABLE_EXAMPLES), f"{subject}: examples that ran: {len(ran)}"
    for block in _python_blocks(markdown):
        ast.parse(block)
    examples = markdown[markdown.find(". Examples\n") : markdown.index("## Summary")] if ran else ""
    for block in _python_blocks(examples):
        assert block in ran, f"{subject}: an example shown that did not run:\n{block}"
        if ran[block]:
            assert f"```text\n{ran[block]}\n```" in examples, "its real output is shown under it"


@pytest.mark.parametrize("subject", ["sorting with key functions", "f-strings", "list comprehensions", "exceptions"])
def test_what_does_this_print_is_answered_by_a_real_run(manual_kb: Path, subject: str) -> None:
    markdown = course(subject, manual_kb)["markdown"]
    quiz = markdown[markdown.index("## Quiz") : markdown.index("### Answers")]
    answers = markdown[markdown.index("### Answers") : markdown.index("## Sources")]
    asked = re.findall(r"^(\d+)\. What does this code print\?\n\n   ```python\n(.*?)\n   ```", quiz, re.M | re.S)
    assert asked, f"{subject}: no question on what code prints"
    for number, code in asked:
        code = re.sub(r"^   ", "", code, flags=re.M)
        answer = re.search(rf"^{number}\. It prints:\n\n   ```text\n(.*?)\n   ```", answers, re.M | re.S)
        assert answer is not None
        expected = re.sub(r"^   ", "", answer.group(1), flags=re.M)
        result = run(Example(((code, False),), "", False))
        assert result.ok and result.output == expected, f"{subject} Q{number}"


def test_an_api_question_names_the_entry_the_manual_describes(manual_kb: Path) -> None:
    markdown = course("asyncio coroutines and tasks", manual_kb)["markdown"]
    answers = markdown[markdown.index("### Answers") : markdown.index("## Sources")]
    named = re.findall(r"^\d+\. `([\w.]+)` — `([^`]+)` \(`(manual:[^`]+)`\)", answers, re.M)
    assert named
    with KnowledgeBase(manual_kb) as kb:
        for name, signature, doc_id in named:
            assert any(p.heading == signature for p in kb.passages(doc_id)), name
            assert "." in name, "qualified names: asyncio.create_task, not create_task"


@pytest.mark.parametrize(("subject", "why"), sorted(REFUSED.items()))
def test_what_is_not_a_python_subject_gets_a_short_honest_answer(manual_kb: Path, subject: str, why: str) -> None:
    results = course(subject, manual_kb)
    assert results["known"] is False
    assert results["sources"] == []
    assert why in results["markdown"]
    assert len(results["markdown"]) < 1200 and "## Quiz" not in results["markdown"]
    nearby = results["nearby"]
    assert len(nearby) <= 4 and all(isinstance(n, str) and "`" not in n and " — " not in n for n in nearby), nearby
    if why == "No course on":
        assert nearby, "a declined subject offers the closest ones it holds, as subjects to ask for"
        assert all(course(n, manual_kb)["known"] for n in nearby[:1]), "one click starts a course on it"


@pytest.mark.parametrize(("french", "english"), sorted(FRENCH.items()))
def test_a_french_subject_finds_the_same_course_as_its_english_equivalent(
    manual_kb: Path, french: str, english: str
) -> None:
    fr, en = course(french, manual_kb), course(english, manual_kb)
    assert fr["known"] and en["known"]
    assert [s["id"] for s in fr["sources"]] == [s["id"] for s in en["sources"]]


def test_a_subject_partly_known_says_what_is_missing(manual_kb: Path) -> None:
    results = course("decorators and monads", manual_kb)
    assert results["known"]
    assert "Only part of this subject is covered" in results["markdown"]
    assert "*monad*" in results["markdown"]


def test_the_thinking_box_shows_the_examples_running(manual_kb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    list(stream_course_generation_progress("sorting with key functions", {"knowledge_base": str(manual_kb)}))
    progress = capsys.readouterr().out
    assert progress.startswith("Knowledge base: the Python 3.")
    assert re.search(r"Running example 1/\d+ from manual:howto/sorting", progress)
    assert re.search(r"ran in \d+ ms", progress)
    assert not re.search(r"\b1 (sources|documents|passages|examples|concepts)\b", progress)


@pytest.mark.parametrize(
    ("subject", "definition"),
    [
        ("generators", "**generator**: A function which returns a generator iterator."),
        ("context managers", "**context manager**: An object which controls the environment seen in a `with`"),
        ("decorators", "**decorator**: A function returning another function"),
    ],
)
def test_a_course_opens_with_the_manuals_definition_of_its_subject(
    manual_kb: Path, subject: str, definition: str
) -> None:
    """The glossary's entry for the subject itself, not a neighbour's ("asynchronous generator"), with its
    headword: "A function which returns a generator iterator." alone never says what it defines."""
    markdown = course(subject, manual_kb)["markdown"]
    what_it_is = markdown[markdown.index("## 1. What it is") :].split("\n\n")[1]
    assert what_it_is.startswith(definition), what_it_is
    answers = markdown[markdown.index("### Answers") :]
    assert definition in answers, "the quiz's 'what is' question is answered by that definition"


def _prose(markdown: str) -> str:
    """The course without its code: what a learner reads as sentences."""
    return re.sub(r"^( *)(```|~~~~)\w*\n.*?\n\1\2$", "", markdown, flags=re.S | re.M)


@pytest.mark.parametrize("subject", sorted({*REQUIRED, *MORE_SUBJECTS}))
def test_every_example_shown_prints_what_its_real_run_printed(manual_kb: Path, subject: str) -> None:
    """No code without a result: each example shown is followed by the non-empty output of its run."""
    results = course(subject, manual_kb)
    markdown = results["markdown"]
    assert "without printing anything" not in markdown
    for example in results["examples_run"]:
        assert example["output"].strip(), f"{subject}: an example that prints nothing:\n{example['code']}"
        shown = f"```python\n{example['code']}\n```\n\nIt prints"
        assert shown in markdown, f"{subject}: an example without its output"
        assert "doctest:" not in example["code"], "the manual's doctest directives are not the learner's"


@pytest.mark.parametrize("subject", sorted({*REQUIRED, *MORE_SUBJECTS, "generators", "lambda"}))
def test_no_sentence_points_at_text_the_course_does_not_show(manual_kb: Path, subject: str) -> None:
    prose = _prose(course(subject, manual_kb)["markdown"])
    leaks = [line for line in prose.splitlines() if ELSEWHERE.search(line)]
    assert not leaks, f"{subject}: {leaks}"
    assert not re.search(r"^(?:\d+\.|-) (?:-|\d+\.) ", prose, re.M), "a list item inside another"
    assert not re.search(r"^- (?:This|That|These|It|They|Once this)\b", prose, re.M), "a point that leans on another"


@pytest.mark.parametrize(("french", "english"), sorted({**FRENCH, "les listes": "lists"}.items()))
def test_a_french_subject_is_told_in_french_that_the_course_is_in_english(
    manual_kb: Path, french: str, english: str
) -> None:
    fr, en = course(french, manual_kb)["markdown"], course(english, manual_kb)["markdown"]
    note = fr.split("\n\n")[1]
    assert re.fullmatch(r"\*[^*\n]*\ben anglais\b[^*\n]*\*", note), note
    assert "anglais" not in en, "an English request gets no French"
    assert "anglais" not in course("exceptions", manual_kb)["markdown"], "an English word that is French too"


def test_a_course_on_a_module_with_only_api_entries_names_its_sources(manual_kb: Path) -> None:
    markdown = course("typing", manual_kb)["markdown"]
    assert "built from 0 sources" not in markdown and ": ." not in markdown
    assert "## Quiz\n\n### Answers" not in markdown, "no quiz without a question"


def test_a_course_on_context_managers_shows_them_at_work(manual_kb: Path) -> None:
    """Examples that run a ``with`` block and print what entering and leaving do, not an internal error."""
    results = course("context managers", manual_kb)
    markdown = results["markdown"]
    assert markdown.startswith("# Context managers\n")
    assert "`contextlib.contextmanager`" in markdown
    examples = results["examples_run"]
    assert examples, "at least one example that ran"
    assert any(re.search(r"^\s*with\b", e["code"], re.M) and e["output"] for e in examples)
    assert any("Starting" in e["output"] and "Finishing" in e["output"] for e in examples), "ContextDecorator's"
    for example in examples:
        assert "object has no attribute" not in example["output"]


@pytest.mark.parametrize(
    ("subject", "teaches", "at_least"),
    [
        ("sorting with key functions", r"\bkey=", 3),
        ("list comprehensions", r"\[.* for \w+ in ", 3),
        ("context managers", r"^\s*(?:with|@)\w*", 2),
        ("generators", r"\byield\b|\(.* for .* in .*\)", 1),
        ("decorators", r"^@\w+", 1),
    ],
)
def test_the_examples_use_what_the_subject_teaches(manual_kb: Path, subject: str, teaches: str, at_least: int) -> None:
    """Sorting with ``key=``, comprehensions as comprehensions: not variants of one thing, nor something else."""
    results = course(subject, manual_kb)
    examples = results["examples_run"]
    using = [e for e in examples if re.search(teaches, e["code"], re.M)]
    assert len(using) >= at_least, f"{subject}: {len(using)} of {len(examples)} examples use {teaches!r}"
    headings = re.findall(r"^### Example \d+: (.+) \(`", results["markdown"], re.M)
    assert len(headings) == len(set(headings)), f"headings that repeat: {headings}"
    assert not any("\\" in h for h in headings), "no escaped markup in a heading"


def test_a_first_example_is_the_simplest_one(manual_kb: Path) -> None:
    sorting = course("sorting with key functions", manual_kb)["examples_run"]
    assert sorting[0]["output"].startswith("[1, 2, 3, 4, 5]"), sorting[0]
    squares = course("list comprehensions", manual_kb)["examples_run"]
    assert any("[x**2 for x in range(10)]" in e["code"] and "[0, 1, 4, 9" in e["output"] for e in squares)


def test_no_example_of_the_interpreters_internals_for_a_language_subject(manual_kb: Path) -> None:
    for example in course("walrus operator", manual_kb)["examples_run"]:
        assert "ast." not in example["code"], example["code"]


def _quiz_answers(markdown: str) -> dict[str, str]:
    answers = markdown[markdown.index("### Answers") : markdown.index("## Sources")]
    return dict(re.findall(r"^(\d+)\. (.*?)(?=^\d+\. |\Z)", answers, re.M | re.S))


@pytest.mark.parametrize("subject", sorted({*REQUIRED, *MORE_SUBJECTS}))
def test_no_two_quiz_questions_share_an_answer(manual_kb: Path, subject: str) -> None:
    markdown = course(subject, manual_kb)["markdown"]
    if "### Answers" not in markdown:
        return
    answers = [" ".join(a.split()) for a in _quiz_answers(markdown).values()]
    assert len(answers) == len(set(answers)), f"{subject}: {answers}"


@pytest.mark.parametrize(
    ("subject", "concept", "starts"),
    [
        ("descriptors", "descriptor", r"Descriptors |A descriptor |\*\*descriptor\*\*: "),
        ("generators", "generator", r"\*\*generator\*\*: "),
        ("asyncio coroutines and tasks", r"[\w ]+", r"(?:\*\*)?[\w ]+(?:\*\*: )?"),
        ("exceptions", "exception", r"\*\*exception\*\*: |An exception |Exceptions "),
        ("logging", "logging", r"(?:The )?`?logging`?|\*\*logging\*\*: "),
    ],
)
def test_what_is_x_is_answered_by_a_sentence_about_x(manual_kb: Path, subject: str, concept: str, starts: str) -> None:
    """"In one sentence: what is X?" only when a sentence defines X, with X its subject; never
    "If no exception occurs, the except clause is skipped …" for "what is an exception?"."""
    markdown = course(subject, manual_kb)["markdown"]
    quiz = markdown[markdown.index("## Quiz") : markdown.index("### Answers")] if "## Quiz" in markdown else ""
    asked = re.search(rf"^(\d+)\. In one sentence: what is \*({concept})\*\?", quiz, re.M)
    if asked is None:
        return  # no sentence of the sources defines it: no question rather than a wrong answer
    answer = _quiz_answers(markdown)[asked.group(1)]
    assert re.match(starts, answer, re.I), f"{subject}: {answer}"
    assert not re.match(r"If |When |But |In the ", answer)


@pytest.mark.parametrize(
    "fragment",
    [
        "should have the desired effect.",
        "which is more concise and readable.",
        "(a naïve approach would make `PurePosixPath('foo/../bar')` equivalent to `PurePosixPath('bar')`).",
        "Some provide streams of infinite length, so they should only be accessed by functions that truncate it.",
        "Another difference is that the list is sorted in place.",
        "You can also use the logger as a context manager.",
        "More information can be found in the old-string-formatting section.",
        "For more information about chaining mechanics, see bltin-exceptions.",
        "But it is more common for a descriptor to be invoked automatically from attribute access.",
        "Now that the logger is configured, messages go to the file.",
        "Finally, the coroutine is marked as having finished executing.",
        "On the other hand, if the descriptor raises AttributeError, no default value is provided.",
        "Also, the key function is called once per element.",
        "Usually it's less convenient than `sorted()` - but if you don't need the original list, it's faster.",
        "What if you want to sort in reverse order?",
        "The most common pattern is to log the exception and then re-raise it:",
        "- the scopes of any enclosing functions contain non-local names",
    ],
)
def test_a_sentence_that_does_not_stand_alone_is_never_shown_alone(fragment: str) -> None:
    from pipeline._text import self_contained, stands_alone

    assert not stands_alone(fragment)
    if fragment.endswith((".", "?")):
        assert self_contained(f"{fragment} A key function is called once for each element.") == (
            "A key function is called once for each element."
        ), "a paragraph does not open on it either"


@pytest.mark.parametrize(
    "sentence",
    [
        "A key function is called once for each element.",
        "`sorted()` returns a new sorted list.",
        "Exceptions are caught by `except` clauses.",
        "Python's `pathlib` module offers classes representing filesystem paths.",
    ],
)
def test_a_sentence_that_stands_alone_is_kept(sentence: str) -> None:
    from pipeline._text import stands_alone

    assert stands_alone(sentence)


@pytest.mark.parametrize("subject", ["logging", "list comprehensions", "pathlib", "itertools", "descriptors"])
def test_no_course_opens_a_paragraph_or_a_point_on_a_fragment(manual_kb: Path, subject: str) -> None:
    prose = _prose(course(subject, manual_kb)["markdown"])
    body = prose[prose.index("## 1.") :]
    for line in body.splitlines():
        text = re.sub(r"^(?:-|\d+\.)\s+", "", line.strip())
        if not text or text.startswith(("#", "|", "*From", "*Knowledge", "`", "It prints", "**")):
            continue
        assert not re.match(r"[a-z(]|(?:But|Another|Now that|Finally|Also|Some)\b", text), f"{subject}: {line}"
        assert "section." not in text and "can be found in" not in text, f"{subject}: {line}"


@pytest.mark.parametrize("subject", ["reading files", "how do I read a file?", "open a file"])
def test_a_course_on_files_is_built_from_the_tutorials_reading_and_writing_files(
    manual_kb: Path, subject: str
) -> None:
    results = course(subject, manual_kb)
    assert results["sources"][0]["id"] == "manual:tutorial/inputoutput", results["sources"]
    markdown = results["markdown"]
    assert "open(" in markdown and re.search(r"^with open\(", markdown, re.M) and ".read()" in markdown
    # Pages that only share a word with the subject ("Read and write Sun AU files") lend it no API.
    assert not re.search(r"`(sunau|aifc|filecmp|tarfile|configparser)\.", markdown), markdown[:2000]


def test_a_section_named_after_the_subject_where_the_manual_teaches_is_a_source(manual_kb: Path) -> None:
    # "Generators" is a section of the tutorial's Classes and of the Functional Programming HOWTO:
    # that is where generators are taught, beyond the glossary's entry and the grammar.
    sources = [s["id"] for s in course("generators", manual_kb)["sources"]]
    assert {"manual:tutorial/classes", "manual:howto/functional"} & set(sources), sources
    # Module pages' generic headings ("Exceptions" in xdrlib) do not count.
    exceptions = [s["id"] for s in course("exceptions", manual_kb)["sources"]]
    assert exceptions[0] == "manual:tutorial/errors" and not any("xdrlib" in s for s in exceptions), exceptions


def test_the_test_package_of_cpython_is_not_in_the_knowledge_base(manual_kb: Path) -> None:
    with KnowledgeBase(manual_kb) as kb:
        assert kb.passages("manual:library/test") == []
    for subject in ("threading", "descriptors"):
        sources = [s["id"] for s in course(subject, manual_kb)["sources"]]
        assert not any(s.startswith("manual:library/test") for s in sources), sources
    markdown = course("descriptors", manual_kb)["markdown"]
    assert "file descriptor" not in markdown and "WebAssembly" not in markdown


@pytest.mark.parametrize(
    ("subject", "title"),
    [
        ("explain decorators with examples", "# Decorators\n"),
        ("exceptions", "# Exceptions\n"),
        ("logging", "# Logging\n"),
        ("teach me generators", "# Generators\n"),
        ("tutorial on list comprehensions", "# List comprehensions\n"),
        ("f-strings", "# f-strings\n"),
        ("threading\x07\ufffd", "# Threading\n"),
    ],
)
def test_a_course_is_titled_by_its_subject_not_by_the_request(manual_kb: Path, subject: str, title: str) -> None:
    assert course(subject, manual_kb)["markdown"].startswith(title)


def test_objectives_name_a_concept_with_its_article(manual_kb: Path) -> None:
    assert "- explain what a *descriptor* is" in course("descriptors", manual_kb)["markdown"]
    assert "- explain what *pathlib* is" in course("pathlib", manual_kb)["markdown"], "a module takes none"


def test_a_declined_subject_names_its_words_right_and_offers_good_subjects(manual_kb: Path) -> None:
    from pipeline._text import singular

    assert [singular(w) for w in ("tomatoes", "itertools", "heroes", "classes")] == [
        "tomato", "itertools", "hero", "class"]
    results = course("gardening tips for tomatoes", manual_kb)
    assert "*tomatoe*" not in results["markdown"] and "*tomato*" in results["markdown"]
    assert results["nearby"] == ["generators", "decorators", "context managers", "f-strings"], results["nearby"]
    assert "Unicode HOWTO" not in results["markdown"]


@pytest.mark.parametrize("subject", ["logging", "asyncio coroutines and tasks"])
def test_examples_that_wait_do_not_hold_a_course_up(manual_kb: Path, subject: str) -> None:
    """A socket server or a sleeping coroutine among a page's examples: running them stops after a few seconds."""
    results = course(subject, manual_kb)
    assert results["timings"]["enhancement_ms"] < 6000, results["timings"]
