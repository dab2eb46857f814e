"""Write one Markdown course per subject of a list, for a rater to read.

    python -m bench.course_samples bench/subjects_holdout.txt OUTDIR [--knowledge-base PATH]

Each subject of FILE (one per line; blank lines and ``#`` comments skipped) becomes
``OUTDIR/NN-slug.md``: the course exactly as the service writes it, and nothing else, so that
an independent reader rates what a learner would see (``bench/RUBRIC.md``).  ``OUTDIR/index.tsv``
lists each file with its subject, whether it was a course or a decline, the examples it ran and
the milliseconds it took.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import time
import unicodedata
from pathlib import Path

__all__ = ("read_subjects", "slug", "write_samples")


def read_subjects(path: Path) -> list[str]:
    """The subjects of a list file: one per line, ``#`` comments and blank lines skipped."""
    lines = (line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
             for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def slug(subject: str) -> str:
    """``*args and **kwargs`` → ``args-and-kwargs``; accents folded, at most 48 characters."""
    plain = unicodedata.normalize("NFKD", subject).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:48] or "subject"


def write_samples(subjects: list[str], outdir: Path, knowledge_base: Path | None = None) -> list[str]:
    """Write the courses; returns the index's lines (file, subject, known, examples, ms)."""
    from pipeline import stream_course_generation_progress

    outdir.mkdir(parents=True, exist_ok=True)
    config = {"knowledge_base": str(knowledge_base)} if knowledge_base else {}
    index = ["file\tsubject\tknown\texamples\tms"]
    for number, subject in enumerate(subjects, 1):
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the progress lines are not the course
            events = list(stream_course_generation_progress(subject, config))
        milliseconds = (time.perf_counter() - started) * 1000
        results = events[-1].get("results", {}) if events and events[-1]["type"] == "complete" else {}
        name = f"{number:02d}-{slug(subject)}.md"
        (outdir / name).write_text(str(results.get("markdown", "")), encoding="utf-8")
        index.append(f"{name}\t{subject}\t{results.get('known')}\t{len(results.get('examples_run', []))}\t"
                     f"{milliseconds:.0f}")
    (outdir / "index.tsv").write_text("\n".join(index) + "\n", encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.course_samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the subjects, one per line")
    parser.add_argument("outdir", type=Path, help="where to write NN-slug.md")
    parser.add_argument("--knowledge-base", type=Path, default=None, help="default: the service's")
    args = parser.parse_args(argv)
    index = write_samples(read_subjects(args.file), args.outdir, args.knowledge_base)
    print("\n".join(index))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
