"""Ingest and retrieval on a small corpus the tests write themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.files import load_folder
from pipeline.ingest import main as ingest_main
from pipeline.knowledge import KnowledgeBase, open_default
from pipeline.retriever import KnowledgeRetrieverAgent

FILES = {
    "baking/sourdough.md": """# Sourdough bread

Sourdough is a bread leavened by a culture of wild yeast and lactic acid bacteria.

## Feeding the starter

Feed the starter with equal weights of flour and water:

```python
def feed(starter, flour):

    return starter + 2 * flour  # water weighs as much as the flour
```
""",
    "baking/kneading.html": """<html><head><title>Kneading</title><script>alert("no")</script></head>
<body><h1>Kneading dough</h1><p>Kneading develops the <b>gluten</b> network of the dough.</p>
<pre>knead(dough, minutes=10)
rest(dough)</pre></body></html>""",
    "baking/ovens.rst": """Ovens
=====

A deck oven bakes bread on a hot stone floor.

Steam
-----

Steam in the first minutes keeps the crust soft so the loaf can rise.
""",
    "baking/notes.txt": "Proofing is the final rise of shaped dough before baking.\n",
    "baking/ignored.bin": "not a document",
}


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    for relative, text in FILES.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / "baking"


@pytest.fixture
def kb(tmp_path: Path, corpus_dir: Path) -> KnowledgeBase:
    knowledge = KnowledgeBase(tmp_path / "own.sqlite3")
    knowledge.add_documents(load_folder(corpus_dir), origin=str(corpus_dir))
    return knowledge


def test_each_file_type_is_ingested_with_a_path_based_id(kb: KnowledgeBase) -> None:
    assert kb.counts() == {"file": 4}
    assert kb.title("file:baking/sourdough.md") == "Sourdough bread"
    assert kb.title("file:baking/kneading.html") == "Kneading dough"
    assert kb.title("file:baking/ovens.rst") == "Ovens"
    assert kb.title("file:baking/notes.txt") == "notes"


def test_code_blocks_survive_ingest_intact(kb: KnowledgeBase) -> None:
    bodies = "\n".join(b.text for s in kb.sections.of_page("file:baking/sourdough.md") for b in s.blocks)
    assert "def feed(starter, flour):\n\n    return starter + 2 * flour  # water weighs as much as the flour" in bodies
    html = "\n".join(b.text for s in kb.sections.of_page("file:baking/kneading.html") for b in s.blocks)
    assert "knead(dough, minutes=10)\nrest(dough)" in html
    assert "the gluten network" in html
    assert "alert" not in html  # scripts are not documentation


def test_rst_sections_become_sections(kb: KnowledgeBase) -> None:
    headings = [s.heading for s in kb.sections.of_page("file:baking/ovens.rst")]
    assert headings == ["Ovens", "Steam"]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("sourdough starter", "file:baking/sourdough.md"),
        ("kneading", "file:baking/kneading.html"),
        ("steam in the oven", "file:baking/ovens.rst"),
        ("proofing dough", "file:baking/notes.txt"),
    ],
)
def test_retrieval_ranks_the_right_document_first(kb: KnowledgeBase, subject: str, expected: str) -> None:
    retrieval = KnowledgeRetrieverAgent(kb, say=lambda line: None).retrieve(subject)
    assert retrieval.known
    assert retrieval.sections[0].doc_id == expected


def test_a_subject_the_corpus_does_not_cover_is_unknown(kb: KnowledgeBase) -> None:
    retrieval = KnowledgeRetrieverAgent(kb, say=lambda line: None).retrieve("quantum chromodynamics")
    assert not retrieval.known


def test_the_retriever_reports_its_lookups_and_the_sections_it_chose(kb: KnowledgeBase) -> None:
    lines: list[str] = []
    KnowledgeRetrieverAgent(kb, say=lines.append).retrieve("sourdough starter")
    lookups = [line for line in lines if line.startswith("Lookup ")]
    assert len(lookups) >= 2
    assert lookups[0].startswith('Lookup 1: headings "sourdough starter" → ')
    assert 'Retriever: section "Feeding the starter" (file:baking/sourdough.md)' in lines


def test_ingesting_again_replaces_a_document(kb: KnowledgeBase, corpus_dir: Path) -> None:
    (corpus_dir / "notes.txt").write_text("Retarding slows fermentation in the fridge.\n", encoding="utf-8")
    kb.add_documents(load_folder(corpus_dir), origin=str(corpus_dir))
    assert kb.counts() == {"file": 4}
    assert "Retarding" in kb.sections.of_page("file:baking/notes.txt")[0].blocks[0].text
    assert not KnowledgeRetrieverAgent(kb, say=lambda line: None).retrieve("proofing").known


def test_ingest_command(tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cli.sqlite3"
    assert ingest_main([str(corpus_dir), "--knowledge-base", str(target), "--without-python-docs"]) == 0
    assert "4 documents" in capsys.readouterr().out
    with KnowledgeBase(target) as kb:
        assert kb.counts() == {"file": 4}


def test_a_knowledge_base_built_without_the_python_docs_stays_so(
    tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service opens its knowledge base with ``open_default`` at startup and for each job:
    a team's own knowledge base must not get the manual indexed into it there."""
    target = tmp_path / "team.sqlite3"
    assert ingest_main([str(corpus_dir), "--knowledge-base", str(target), "--without-python-docs"]) == 0

    def no_indexing(line: str) -> None:
        raise AssertionError(f"the Python documentation was indexed into a team's knowledge base: {line}")

    with open_default(target, progress=no_indexing) as kb:
        assert kb.ensure_default_corpus(progress=no_indexing) is False
        assert kb.counts() == {"file": 4}
        assert kb.describe() == "4 of your own documents"
        assert kb.corpus() == "none"
    capsys.readouterr()
    assert ingest_main([str(corpus_dir), "--knowledge-base", str(target)]) == 0, "adding more documents later"
    assert "built without the Python documentation" in capsys.readouterr().out
    with KnowledgeBase(target) as kb:
        assert kb.counts() == {"file": 4}


def test_ingest_command_rejects_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        ingest_main([str(tmp_path / "nope")])


def test_ingested_code_runs_only_when_trusted(tmp_path: Path, corpus_dir: Path) -> None:
    target = tmp_path / "trust.sqlite3"
    assert ingest_main([str(corpus_dir), "--knowledge-base", str(target), "--without-python-docs"]) == 0
    with KnowledgeBase(target) as kb:
        assert not kb.is_trusted("file:baking/sourdough.md")
    assert ingest_main([str(corpus_dir), "--knowledge-base", str(target), "--without-python-docs",
                        "--trust-code"]) == 0
    with KnowledgeBase(target) as kb:
        assert kb.is_trusted("file:baking/sourdough.md")


def test_a_manual_knowledge_base_is_not_downgraded_where_the_manual_is_not(
    default_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with KnowledgeBase(default_kb) as kb:
        if kb.corpus() != "manual":
            pytest.skip("the Python manual is not available here (make manual)")
    monkeypatch.setenv("PYTHON_MANUAL", str(tmp_path / "nowhere"))
    with KnowledgeBase(default_kb) as kb:
        assert kb.ensure_default_corpus(progress=lambda line: None) is False
        assert kb.corpus() == "manual"
