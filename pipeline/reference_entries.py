"""The manual's entries around a lesson: the glossary's entry for a subject (and the one it sends
to), cross-references resolved to the headings they name, and the entries beside the named API that
a "which one does this?" question offers as its other options; and which of a subject's words the
chosen sections say."""

from __future__ import annotations

import re
from dataclasses import replace

from .lookup import Named, words_of
from .scoring import BUILTIN_PAGES
from .sections import ManualSection, SectionIndex
from .snippets import builtin_names

__all__ = ("glossary_entry", "resolve", "siblings", "words_said")

_MAX_SIBLINGS = 8
_LABEL = re.compile(r"⸨([^⸨⸩|]+)⸩")


def glossary_entry(sections: SectionIndex, terms: tuple[str, ...], named: Named) -> ManualSection | None:
    """The glossary's entry for the subject itself, if it has one (never a nearby word's)."""
    names = [" ".join(terms), *named.concepts, *(terms[:1] if len(terms) == 1 else [])]
    for name in names:
        for variant in dict.fromkeys([name, name.replace("-", " "), name + "s", name.removesuffix("s")]):
            for section in sections.headed(variant):
                if section.kind == "glossary":
                    return _see(sections, section)
    return None


def _see(sections: SectionIndex, entry: ManualSection) -> ManualSection:
    """The entry a glossary entry sends to ("keyword argument": "See argument.")."""
    text = " ".join(b.text for b in entry.blocks).strip()
    match = re.fullmatch(r"See \*?([\w -]+?)\*?\.", text)
    if match:
        target = [s for s in sections.headed(match.group(1)) if s.kind == "glossary"]
        if target:
            return target[0]
    return entry


def resolve(sections: SectionIndex, section: ManualSection) -> ManualSection:
    """The section with its cross-references (``⸨tut-tuples⸩``) as the headings they name and their links."""
    if not any("⸨" in b.text for b in section.blocks):
        return section

    def heading(match: re.Match[str]) -> str:
        target = sections.labelled(match.group(1))
        if target is None:
            return match.group(0)
        return f"⸨{match.group(1)}|{target.name}|{target.url()}⸩"

    blocks = tuple(replace(b, text=_LABEL.sub(heading, b.text)) for b in section.blocks)
    return replace(section, blocks=blocks)


def siblings(sections: SectionIndex, api: list[ManualSection], teaching: list[ManualSection]) -> list[ManualSection]:
    """Other entries of the named API's page and owner: the wrong options of "which API does this?"."""
    out: list[ManualSection] = []
    for entry in api:
        owner = entry.api_name.rsplit(".", 1)[0] if "." in entry.api_name else ""
        page = sections.entries_of(entry.doc_id)
        same = [s for s in page if s.api_name and s.id != entry.id and s.objtype == entry.objtype
                and (s.api_name.rsplit(".", 1)[0] == owner if owner else "." not in s.api_name)]
        if not same and owner:  # ``dataclasses.dataclass`` is the page's one decorator: its functions
            same = [s for s in page if s.api_name and s.id != entry.id and s.api_name.rsplit(".", 1)[0] == owner
                    and s.objtype in ("function", "decorator", "class")]
        out += [s for s in same if s.id not in {a.id for a in api}]
    if not api:
        # No API named: the entries of the library pages chosen, for "which of these does what the
        # example's ``redirect_stdout`` does?".
        for doc_id in dict.fromkeys(s.doc_id for s in teaching if s.kind == "library"):
            out += sections.entries_of(doc_id)[: _MAX_SIBLINGS * 5]
        out += _builtins_used(sections, teaching)
    return list({s.id: s for s in out}.values())[:_MAX_SIBLINGS * 5]


def _builtins_used(sections: SectionIndex, teaching: list[ManualSection]) -> list[ManualSection]:
    """The entries of the built-ins a lesson's code uses (``iter``, ``super``, ``ZeroDivisionError``),
    each with the entries of its page of the same kind: "which built-in does this?" about the lesson's
    own code, for a subject that names no API."""
    used: list[ManualSection] = []
    # The code it shows, and the code its prose names (``isinstance(obj, int)`` in "Inheritance").
    codes = [b.text for s in teaching for b in s.blocks if b.literal]
    codes += [span for s in teaching for b in s.blocks if not b.literal
              for span in re.findall(r"`([^`]+)`", b.text)]
    for name in builtin_names(codes):
        used += [e for e in sections.api(name) if e.page.split("/")[-1] in BUILTIN_PAGES][:1]
    others: list[ManualSection] = []
    for entry in used[:3]:
        page = sections.entries_of(entry.doc_id)
        others += [s for s in page if s.objtype == entry.objtype and s.id != entry.id][: _MAX_SIBLINGS * 2]
    return used + others


def words_said(sections: SectionIndex, wanted: set[str], chosen: list[ManualSection], glossary: ManualSection | None,
        named: Named) -> set[str]:
    """The subject's words that the chosen sections' headings, index terms or names say."""
    said: set[str] = set()
    for section in chosen + ([glossary] if glossary else []):
        said |= words_of(" ".join([section.heading, *section.path, *section.terms, section.api_name]))
        if named.question or not section.doc_id.startswith("manual:"):
            said |= words_of(" ".join(b.text for b in section.blocks))
        if named.question and not section.api_name:  # the entries it holds: ``list.copy`` in More on Lists
            said |= words_of(" ".join(b.text for e in sections.of_page(section.doc_id)
                                      if e.api_name and e.path[: len(section.path)] == section.path
                                      for b in e.blocks))
    if named.question:  # a question words things its own way: "difference" is said by "different"
        said |= {w for w in wanted for s in list(said) if len(w) >= 6 and s.startswith(w[: len(w) - 3])}
    if any(section.terms and named.term_patterns for section in chosen):
        said |= named.symbol_words  # ``*args`` is what the index entry of "* (asterisk)" is about
    return {w for w in wanted if w in said}
