"""ContentEnhancerAgent: ranks, de-duplicates and organises retrieved passages into an outline."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ._text import Block, is_python_code, sentences, singular, tokens
from .knowledge import Passage
from .retriever import Retrieval, ScoredDocument

__all__ = ("ContentEnhancerAgent", "Outline", "OutlineSection", "parse_body")

MAX_SECTIONS = 5
PASSAGES_PER_SECTION = 3
MIN_RELATIVE_SCORE = 0.35  # a document scoring under this share of the best one is off-topic
DUPLICATE_OVERLAP = 0.8

_FENCE = re.compile(r"^```\n(.*?)\n```$", re.S)
_DEFINING = re.compile(r"\b(is|are|refers to|means|provides|represents|returns|creates)\b")
_IMPORTANT = re.compile(r"\b(must|always|never|only|guarantee[sd]?|cannot|can|should|automatically|raises?)\b")


def parse_body(body: str) -> list[Block]:
    """A stored passage body back into blocks (literal blocks were fenced when indexed)."""
    blocks: list[Block] = []
    # Paragraphs are separated by blank lines; a fenced block may contain blank lines.
    pieces = re.split(r"(```\n.*?\n```)", body, flags=re.S)
    for piece in pieces:
        match = _FENCE.match(piece.strip())
        if match:
            blocks.append(Block(match.group(1), "literal"))
            continue
        for paragraph in piece.split("\n\n"):
            if paragraph.strip():
                blocks.append(Block(paragraph.strip(), "prose"))
    return blocks


@dataclass(slots=True)
class OutlineSection:
    doc_id: str
    title: str
    score: float
    paragraphs: list[Block] = field(default_factory=list)  # prose and literal blocks, in reading order
    examples: list[str] = field(default_factory=list)  # Python code, verbatim


@dataclass(slots=True)
class Outline:
    subject: str
    terms: list[str]
    known: bool
    sections: list[OutlineSection]
    definitions: list[tuple[str, str]]  # (sentence, doc id)
    key_points: list[tuple[str, str]]  # (sentence, doc id)
    sources: list[dict[str, object]]
    nearby: list[str]  # titles of documents that touch the subject, for an unknown one


def _words(text: str) -> set[str]:
    return {singular(w) for w in tokens(text) if len(w) > 2}


def _overlap(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


class ContentEnhancerAgent:
    """Turns a pile of retrieved passages into sections, definitions, key points and examples."""

    name = "ContentEnhancerAgent"

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.say = say

    def enhance(self, retrieval: Retrieval) -> Outline:
        terms = {singular(t) for t in retrieval.terms}
        nearby = [d.title for d in retrieval.documents[:5]]
        if not retrieval.known or not retrieval.documents:
            self.say("Nothing in the knowledge base covers this subject as a whole.")
            return Outline(retrieval.subject, retrieval.terms, False, [], [], [], [], nearby)

        top = retrieval.documents[0].score
        chosen = [d for d in retrieval.documents[:MAX_SECTIONS] if d.score >= MIN_RELATIVE_SCORE * top and d.passages]
        self.say(f"Ranking {len(retrieval.documents)} documents: keeping the {len(chosen)} most relevant.")

        seen: list[set[str]] = []
        sections: list[OutlineSection] = []
        dropped = 0
        for doc in chosen:
            section, removed = self._section(doc, seen)
            dropped += removed
            if section.paragraphs:
                sections.append(section)
        if dropped:
            self.say(f"Removed {dropped} passages that repeat others.")
        self.say(f"Organised the material into {len(sections)} sections: " + "; ".join(s.title for s in sections))

        definitions = self._definitions(sections, terms)
        self.say(f"Picked {len(definitions)} definitions.")
        key_points = self._key_points(sections, terms, {d for d, _ in definitions})
        self.say(f"Picked {len(key_points)} key points.")
        n_examples = sum(len(s.examples) for s in sections)
        self.say(f"Kept {n_examples} code examples intact.")
        sources = [{"id": s.doc_id, "title": s.title, "score": round(s.score, 3)} for s in sections]
        return Outline(retrieval.subject, retrieval.terms, True, sections, definitions, key_points, sources, nearby)

    def _section(self, doc: ScoredDocument, seen: list[set[str]]) -> tuple[OutlineSection, int]:
        section = OutlineSection(doc.id, doc.title, doc.score)
        picked: list[Passage] = []
        removed = 0
        for passage, _ in doc.ranked_passages():
            if len(picked) >= PASSAGES_PER_SECTION:
                break
            words = _words(passage.body)
            if any(_overlap(words, other) >= DUPLICATE_OVERLAP for other in seen):
                removed += 1
                continue
            seen.append(words)
            picked.append(passage)
        for passage in sorted(picked, key=lambda p: p.seq):  # reading order, as the source has it
            for block in parse_body(passage.body):
                section.paragraphs.append(block)
                if block.literal and is_python_code(block.text):
                    section.examples.append(block.text)
        return section, removed

    @staticmethod
    def _prose_sentences(sections: list[OutlineSection]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for section in sections:
            for block in section.paragraphs:
                if not block.literal and not block.text.endswith(":"):
                    found.extend((s, section.doc_id) for s in sentences(block.text))
        return found

    def _definitions(self, sections: list[OutlineSection], terms: set[str]) -> list[tuple[str, str]]:
        picked: list[tuple[str, str]] = []
        for sentence, doc_id in self._prose_sentences(sections):
            if not 30 <= len(sentence) <= 260:
                continue
            head = " ".join(sentence.split()[:10])
            if _DEFINING.search(head) and terms & _words(head):
                picked.append((sentence, doc_id))
            if len(picked) == 4:
                break
        return picked

    def _key_points(
        self, sections: list[OutlineSection], terms: set[str], exclude: set[str]
    ) -> list[tuple[str, str]]:
        candidates: list[tuple[float, int, str, str]] = []
        for order, (sentence, doc_id) in enumerate(self._prose_sentences(sections)):
            if sentence in exclude or not 40 <= len(sentence) <= 240:
                continue
            words = _words(sentence)
            relevance = len(terms & words) + (1.0 if _IMPORTANT.search(sentence) else 0.0)
            if relevance >= 1.0:
                candidates.append((-relevance, order, sentence, doc_id))
        candidates.sort()
        picked: list[tuple[str, str]] = []
        for _, _, sentence, doc_id in candidates:
            if all(_overlap(_words(sentence), _words(p)) < DUPLICATE_OVERLAP for p, _ in picked):
                picked.append((sentence, doc_id))
            if len(picked) == 6:
                break
        return picked
