"""The course generator job: three agents, in the job protocol of the streaming core.

``stream_course_generation_progress`` is a plain blocking generator, as in the
design it replaces: it prints as it goes (each line reaches the client as it is
printed, through ``capture``), yields each finished part of the course as
``content``, and ends with ``complete``.

The embedded generator writes the whole course before its first ``content``, so
every line it prints comes before the answer: chat clients show printed lines as
the model's thinking and open a new thinking box for any that follow the answer.
Only a language model's answer is sent as it arrives (its last lines follow it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .enhancer import ContentEnhancerAgent
from .generator import CourseGeneratorAgent
from .knowledge import open_default, plural
from .llm import LLMCourseGenerator, LLMError, LLMSettings
from .retriever import KnowledgeRetrieverAgent

__all__ = ("CourseConfig", "stream_course_generation_progress")

RULE = "=" * 60


@dataclass(frozen=True, slots=True)
class CourseConfig:
    knowledge_base: Path | None = None  # None: $KNOWLEDGE_BASE, else data/knowledge.sqlite3
    llm: LLMSettings | None = None  # None: the embedded generator writes the course
    run_examples: bool = True  # run trusted documents' examples to show their real output


def _config(config: CourseConfig | Mapping[str, Any] | None) -> CourseConfig:
    if config is None:
        return CourseConfig()
    if isinstance(config, CourseConfig):
        return config
    path = config.get("knowledge_base")
    llm = config.get("llm")
    return CourseConfig(
        knowledge_base=Path(path) if path else None,
        llm=llm if isinstance(llm, LLMSettings) else None,
        run_examples=bool(config.get("run_examples", True)),
    )


def _phase(number: int, title: str) -> None:
    print(RULE)
    print(f"PHASE {number}: {title}")
    print(RULE)


def stream_course_generation_progress(
    subject: str, config: CourseConfig | Mapping[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Generate a course on ``subject``; yields ``content`` pieces, then ``complete``."""
    settings = _config(config)
    subject = " ".join(subject.split())
    if not subject:
        raise ValueError("the subject is empty")
    timings: dict[str, float] = {}
    started = time.perf_counter()

    phase_start = time.perf_counter()
    with open_default(settings.knowledge_base) as kb:
        knowledge_base = kb.describe()
        corpus = kb.corpus()
        print(f"Knowledge base: {knowledge_base}")
        _phase(1, "KNOWLEDGE RETRIEVAL")
        print("📚 Agent 1: KnowledgeRetrieverAgent — looking the subject up in the manual's sections")
        retrieval = KnowledgeRetrieverAgent(kb).retrieve(subject)
        timings["retrieval_ms"] = (time.perf_counter() - phase_start) * 1000

        _phase(2, "CONTENT ENHANCEMENT")
        print("🔎 Agent 2: ContentEnhancerAgent — reading the sections, running their examples")
        phase_start = time.perf_counter()
        trusted = {s.doc_id for s in retrieval.sections if settings.run_examples and kb.is_trusted(s.doc_id)}
        outline = ContentEnhancerAgent(trusted=trusted.__contains__).enhance(retrieval)
        timings["enhancement_ms"] = (time.perf_counter() - phase_start) * 1000

    _phase(3, "COURSE GENERATION")
    print("✍️ Agent 3: CourseGeneratorAgent — writing the course")
    phase_start = time.perf_counter()
    pieces: list[str] = []
    backend = "embedded"
    if settings.llm is not None and outline.known:
        backend = f"llm: {settings.llm.describe()}"
        try:
            for token in LLMCourseGenerator(settings.llm).write(outline):
                pieces.append(token)
                yield {"type": "content", "content": token}
        except LLMError as error:
            if error.started or not settings.llm.fallback:
                print(f"The language model failed: {error.message}.")
                yield {"type": "error", "message": f"Could not write the course: {error.message}.",
                       "kind": "upstream_error"}
                return
            print(f"⚠️ {error.message[:1].upper()}{error.message[1:]}: "
                  "writing the course with the embedded generator instead.")
            backend = "embedded (fallback)"
    streamed = bool(pieces)
    if not pieces:
        pieces = list(CourseGeneratorAgent().write(outline, knowledge_base))  # it prints as it writes
    timings["generation_ms"] = (time.perf_counter() - phase_start) * 1000
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    timings = {k: round(v, 1) for k, v in timings.items()}

    if outline.known:
        print(f"✅ Course ready: {plural(len(outline.examples), 'example')} that ran, "
              f"{plural(len(outline.sources), 'source')}, {timings['total_ms']:.0f} ms.")
    elif outline.kind == "subject":
        print(f"❔ The knowledge base does not cover {subject!r}; answered so.")
    else:
        print(f"❔ {subject!r} is not a subject; answered so.")
    if not streamed:
        for piece in pieces:  # after the last printed line: see the module's docstring
            yield {"type": "content", "content": piece}
    yield {
        "type": "complete",
        "results": {
            "subject": subject,
            "known": outline.known,
            "markdown": "".join(pieces),
            # A declined subject used no source: what matched best is offered instead, as subjects
            # the user can ask for with one click.
            "sources": outline.sources if outline.known else [],
            "nearby": [] if outline.known else outline.nearby,
            "timings": timings,
            "knowledge_base": knowledge_base,
            "corpus": corpus,
            "backend": backend,
            "examples_run": [{"source": e.doc_id, "code": e.code, "output": e.output, "varies": e.varies}
                             for e in outline.examples],
        },
    }
