"""Course generation time on the default corpus (the Python manual when it is there).

    python -m bench.courses

Indexes the corpus into a temporary knowledge base (timed: what the first start
costs), then writes a course on each subject of ``bench/subjects_tuning.txt`` three times
and reports p50 and max.  A course's
time is real work: retrieval, running its examples in separate processes, and
writing; ``make bench`` puts these rows into BENCHMARKS.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from bench import loadgen
from bench.course_samples import read_subjects

# The subjects courses are tuned on (the holdout list is for raters only).
SUBJECTS = tuple(read_subjects(Path(__file__).resolve().parent / "subjects_tuning.txt"))
ROUNDS = 3


def _fmt(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def course_rows() -> list[str]:
    """Markdown table rows: first-use indexing, and course time p50/max over ``SUBJECTS`` × ``ROUNDS``."""
    from pipeline import stream_course_generation_progress
    from pipeline.knowledge import KnowledgeBase

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kb.sqlite3"
        started = time.perf_counter()
        with KnowledgeBase(path) as kb:
            kb.ensure_default_corpus(progress=lambda line: None)
            corpus = "the Python manual" if kb.corpus() == "manual" else "the built-in fallback"
        indexing = time.perf_counter() - started
        times: list[float] = []
        examples: list[int] = []
        saved = sys.stdout
        with open(os.devnull, "w") as devnull:
            sys.stdout = devnull
            try:
                for _ in range(ROUNDS):
                    for subject in SUBJECTS:
                        t = time.perf_counter()
                        for event in stream_course_generation_progress(subject, {"knowledge_base": str(path)}):
                            if event["type"] == "complete":
                                examples.append(len(event["results"].get("examples_run", [])))
                        times.append((time.perf_counter() - t) * 1000)
            finally:
                sys.stdout = saved
    return [
        f"| first-use indexing of {corpus} | {_fmt(indexing, 1)} s |",
        f"| course generation on {corpus} ({len(SUBJECTS)} subjects × {ROUNDS}, "
        f"{_fmt(sum(examples) / max(1, len(examples)), 1)} examples run per course) | "
        f"p50 {_fmt(loadgen.median(times), 0)} ms, max {_fmt(max(times), 0)} ms |",
    ]


if __name__ == "__main__":
    print("\n".join(["| measure | result |", "| --- | --- |", *course_rows()]))
