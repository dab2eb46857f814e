"""KnowledgeRetrieverAgent: finds the one to three sections of the manual that teach a subject.

The unit is a section, found as the manual's own readers find it: by its index (``*args`` is the
entry ``* (asterisk); in function calls`` of the tutorial's "Arbitrary Argument Lists"), its
headings, its glossary and its API names (``split, join, strip`` → ``str.split`` …).  A tutorial
or HOWTO section headed with the subject comes first, then the library or reference entry of
the API it names.  A subject whose words no heading, index term or API name of the knowledge
base covers is declined: the course would otherwise teach whatever a word matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ._subject import read_subject
from ._text import STOPWORDS, normalise, singular
from .knowledge import KnowledgeBase, plural
from .lookup import INDEXED_AS, Named, owner_of, read_names, stem, words_of
from .reference_entries import glossary_entry, resolve, siblings, words_said
from .scoring import (
    GENERIC,
    LESSON_ORDER,
    Candidate,
    about_page,
    fullest,
    runnable,
    score,
    shown,
    teaches,
)
from .sections import ManualSection
from .snippets import code_features

__all__ = ("KnowledgeRetrieverAgent", "Retrieval", "fts_phrase", "nearby_subjects")

MAX_TEACHING = 2
MAX_API = 3
MAX_SUBSECTIONS = 3  # sub-sections read with a section that on its own is an introduction
# Syntax a lesson's code shows, as the AST names it, and the keyword its text is searched by.
_SYNTAX_WORDS = {"Nonlocal": "nonlocal", "Global": "global", "With": "with", "Match": "match", "Try": "try",
                 "Lambda": "lambda", "Yield": "yield", "NamedExpr": "walrus", "AsyncFunctionDef": "async"}
# The built-in types as a question names them ("a list", "a dictionary", "a string").
_TYPE_WORDS = {"list": "list", "dictionary": "dict", "dict": "dict", "set": "set", "tuple": "tuple",
               "string": "str", "str": "str", "byte": "bytes", "bytes": "bytes"}
MIN_CODE_BLOCKS = 3  # code blocks a section needs before its sub-sections are left out
MIN_SHOWN = 2  # sessions with output a course needs, else a section that has some is added
MAX_NEARBY = 4
SEARCH_LIMIT = 60
SUGGESTED_SUBJECTS = ("generators", "decorators", "context managers", "f-strings")


def fts_phrase(text: str) -> str:
    """``text`` as an FTS5 phrase: quoted, so user input can never be read as query syntax."""
    words = normalise(text)
    return f'"{words}"' if words else ""


def nearby_subjects(titles: list[str], limit: int = MAX_NEARBY) -> list[str]:
    """Names a declined request can offer as subjects to ask for instead, each once."""
    subjects = dict.fromkeys(" ".join(t.replace("`", "").split()) for t in titles if t.strip())
    return list(subjects)[:limit]


@dataclass(slots=True)
class Retrieval:
    subject: str
    terms: list[str]
    known: bool
    kind: str = "subject"  # "subject" | "small_talk" | "follow_up"
    french: bool = False
    sections: list[ManualSection] = field(default_factory=list)  # in lesson order: teaching, then API entries
    glossary: ManualSection | None = None
    api: list[ManualSection] = field(default_factory=list)  # the entries the subject names
    siblings: list[ManualSection] = field(default_factory=list)  # other entries of their page, for the quiz
    features: set[str] = field(default_factory=set)  # what the subject's code shows
    covered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    nearby: list[str] = field(default_factory=list)
    lookups: int = 0


class KnowledgeRetrieverAgent:
    """Reads the subject, looks it up in the section index, and chooses the sections to teach it from."""

    name = "KnowledgeRetrieverAgent"

    def __init__(self, kb: KnowledgeBase, say: Callable[[str], None] = print) -> None:
        self.kb = kb
        self.say = say
        self._lookups = 0

    def _report(self, what: str, found: int) -> None:
        self._lookups += 1
        self.say(f"Lookup {self._lookups}: {what} → {plural(found, 'section')}")

    def retrieve(self, text: str) -> Retrieval:
        subject = read_subject(text)
        if subject.kind != "subject":
            what = "small talk" if subject.kind == "small_talk" else "a follow-up to an earlier answer"
            self.say(f"{text!r} reads as {what}, not as a subject: no search.")
            return Retrieval(text, list(subject.terms), False, subject.kind, subject.french)
        named = read_names(text, subject)
        self.say(f"Subject: {text!r} → words: {', '.join(named.words) or '—'}"
                 + (f"; symbols: {', '.join(named.concepts)}" if named.concepts else "")
                 + (f"; names: {', '.join(named.api_words)}" if named.api_words else "")
                 + (" (read as French)" if subject.french else ""))
        wanted = words_of(" ".join(named.words)) | {w for c in named.concepts for w in words_of(c)}
        api = self._api(named)
        # What the API entries name is covered by them: the teaching section is for the rest.
        by_api = {w for a in api for w in words_of(a.api_name)}
        rest = wanted - by_api
        only_api = api and not rest and named.code_like  # "lru_cache": the entry is the lesson, and its section
        candidates = self._parents(api) if only_api else self._candidates(named, rest or wanted, api)
        teaching = self._teaching(candidates, rest or wanted, named)
        if teaching and teaching[0].kind not in ("tutorial", "howto") and not api and not named.modules:
            teaching = [*self._lesson_showing(named), *teaching][:MAX_TEACHING]
        if not api and len(named.modules) == 1 and len(wanted) == 1:
            api = self._core_api(named.modules[0], teaching)
        glossary = glossary_entry(self.kb.sections, subject.terms, named)
        # A question is answered by its section; the sub-sections of "More on Lists" (stacks, queues) are
        # other questions.
        chosen = list(teaching) if named.question else self._with_subsections(teaching)
        chosen += [a for a in api if a.id not in {t.id for t in chosen}]
        more = self._more_examples(chosen, wanted, candidates)
        chosen = [*[s for s in chosen if not s.api_name], *more, *[s for s in chosen if s.api_name]]
        chosen = list({s.id: s for s in chosen}.values())  # each section once
        covered = words_said(self.kb.sections, wanted, chosen, glossary, named)
        missing = [w for w in named.words if stem(w) not in covered]
        ratio = (len(named.words) - len(missing)) / max(1, len(named.words))
        # Every word of a short subject, most of a longer one; a question names its subject in fewer
        # of its words ("how do I …"), so half will do, as long as one is a heading's or an entry's.
        enough = ratio >= (0.5 if len(named.words) > 1 else 1.0)
        known = bool(chosen) and (enough or bool(named.term_patterns) or bool(api))
        nearby = nearby_subjects([c.section.name for c in sorted(candidates.values(), key=lambda c: -c.score)])
        if not known:
            self.say("No section of the knowledge base is about " + repr(text) + ".")
            return Retrieval(text, list(subject.terms), False, "subject", subject.french, covered=sorted(covered),
                             missing=missing, nearby=nearby or list(SUGGESTED_SUBJECTS), lookups=self._lookups)
        chosen = [resolve(self.kb.sections, s) for s in chosen]
        glossary = resolve(self.kb.sections, glossary) if glossary is not None else None
        api = [resolve(self.kb.sections, s) for s in api]
        for section in chosen:
            self.say(f"Retriever: {section.label()}")
        if glossary is not None:
            self.say(f"Retriever: glossary entry \"{glossary.heading}\"")
        return Retrieval(text, list(subject.terms), True, "subject", subject.french, chosen, glossary, api,
                         siblings(self.kb.sections, api, chosen), named.features | self._api_features(api),
                         [w for w in named.words if stem(w) in covered], missing, nearby, self._lookups)

    # -- the lookups ------------------------------------------------------------------

    def _candidates(self, named: Named, wanted: set[str], api: list[ManualSection]) -> dict[int, Candidate]:
        """Sections the subject's index terms, headings and words point at, scored."""
        found: dict[int, Candidate] = {}
        for pattern in named.term_patterns:
            hits = [s for s in self.kb.sections.with_term(pattern) if teaches(s)]
            self._report(f'index term "{pattern}"', len(hits))
            for section in hits:
                found.setdefault(section.id, Candidate(section)).by_term = True
        spelled = [*named.words, *(w for c in named.concepts for w in normalise(c).split())]
        words = [w for w in dict.fromkeys(spelled) if stem(w) in wanted and w not in STOPWORDS]
        queries: list[tuple[str, str]] = []
        if words:
            every = " ".join(fts_phrase(w) for w in words)
            queries += [(every, "heading"), (every, "")]
        if words:
            any_word = " OR ".join(fts_phrase(w) for w in words)
            if len(words) > 1:
                queries.append((any_word, "heading"))
            # Where the manual teaches: among the hundreds of headings holding one word ("class").
            queries.append((f'{{heading}} : ({any_word}) AND {{context}} : ("tutorial" OR "howto")', "lessons"))
        indexed = [*words, *(r for w in words for r in INDEXED_AS.get(w, ()))]
        if indexed:
            queries.append((" OR ".join(fts_phrase(w) for w in dict.fromkeys(indexed)), "terms"))
        for match, column in queries:
            scored = [(s, r) for s, r in self.kb.sections.search(match, SEARCH_LIMIT, column.replace("lessons", ""))
                      if teaches(s)]
            what = {"heading": "headings", "terms": "index terms", "": "headings, index terms and names",
                    "lessons": "the tutorial's and HOWTOs' headings"}[column]
            self._report(f'{what} "{" ".join(words)}"' + (" (any word)" if " OR " in match else ""), len(scored))
            top = scored[0][1] if scored and scored[0][1] > 0 else 1.0
            for section, rank in scored:
                candidate = found.setdefault(section.id, Candidate(section))
                if column == "":
                    candidate.text = max(candidate.text, rank / top)
        for module in named.modules:
            if any(a.api_name.startswith(module + ".") for a in api):
                continue  # "collections.Counter": the module only says whose entry it is
            intro = [s for s in self.kb.sections.of_page(f"manual:library/{module}")[:2] if not s.api_name][:1]
            self._report(f"module {module}", len(intro))
            for section in intro:
                # "json" is the module; in "asyncio coroutines and tasks" it only says where to look.
                found.setdefault(section.id, Candidate(section)).module = 0.8 if len(wanted) == 1 else 0.3
            if len(wanted) == 1:
                self._module_lessons(module, found)
        # The section a named entry belongs to ("String Methods" above ``str.split``) introduces it.
        for entry in api:
            for section in self.kb.sections.of_page(entry.doc_id):
                if not section.api_name and section.path and entry.path[: len(section.path)] == section.path:
                    found.setdefault(section.id, Candidate(section)).parent = True
        if named.question and words:
            self._asked(words, found)
        small = self.kb.size() < 2000  # a few notes of one's own: their running text says what they are about
        for candidate in found.values():
            candidate.score = score(candidate, wanted, small)
            if (len(wanted) == 1 and len(named.modules) == 1 and not candidate.module
                    and not about_page(candidate.section, set(named.modules))):
                candidate.score *= 0.5  # "the random module": "Random Remarks" spells its name, nothing more
        return found

    def _core_api(self, module: str, teaching: list[ManualSection]) -> list[ManualSection]:
        """A module's core API, for a subject that is the module alone: the entries of its page the
        lesson's code calls, in the order it first calls them (``math.cos``, ``math.log``), else the
        page's first functions (``subprocess.run``); its introduction's "The following functions are
        provided" is then followed by them."""
        entries = [e for e in self.kb.sections.entries_of(f"manual:library/{module}")
                   if e.objtype in ("function", "class", "method", "decorator") and teaches(e)]
        if not entries:
            return []
        code = "\n".join(b.text for s in teaching for b in s.blocks if b.literal)
        by_name = {e.api_name.rsplit(".", 1)[-1]: e for e in reversed(entries) if e.api_name.startswith(module + ".")}
        imported = {n.strip().split(" as ")[0] for m in re.finditer(rf"from {re.escape(module)} import ([\w, ]+)", code)
                    for n in m.group(1).split(",")}
        uses = re.finditer(rf"(?<![\w.]){re.escape(module)}\.(\w+)\(|(?<![\w.])(\w+)\b", code)
        called = [by_name[name] for m in uses if (name := m.group(1) or m.group(2)) in by_name
                  and (m.group(1) or name in imported)]
        chosen = list({e.id: e for e in called}.values())[:MAX_API] or [
            e for e in entries if e.objtype in ("function", "class")][:2]
        self._report(f"the core API of {module}", len(chosen))
        return chosen

    def _lesson_showing(self, named: Named) -> list[ManualSection]:
        """When the best section is the language reference's ("The nonlocal statement"), the tutorial's
        or a HOWTO's section whose code uses that syntax, which teaches it by example ("Scopes and
        Namespaces Example"); nothing when the subject names no syntax."""
        keywords = [k for feature, k in _SYNTAX_WORDS.items() if feature in named.features]
        if not keywords:
            return []
        rare = ("nonlocal", "lambda", "yield", "async")  # the others are English words: "the with statement"
        spelled = [fts_phrase(k if k in rare else f"{k} statement") for k in keywords]
        match = f'{{body}} : ({" OR ".join(spelled)}) AND {{context}} : ("tutorial" OR "howto")'
        for section, _ in self.kb.sections.search(match, SEARCH_LIMIT):
            if not teaches(section) or section.api_name or not runnable(section):
                continue
            used = set().union(*(code_features(re.sub(r"^(?:>>>|\.\.\.) ?", "", b.text, flags=re.M))
                                 for b in section.blocks if b.literal))
            said = set(normalise(" ".join([section.heading, *section.terms])).split())
            # "with", "try", "match" are English words too: the index or the heading must say them.
            prose = " ".join(b.text for b in section.blocks if not b.literal)
            filed = any(k in said or k in rare
                        or re.search(rf"`{k}`\s+statement|\b{k} statement", prose) for k in keywords)
            if filed and used & named.features & set(_SYNTAX_WORDS):
                self._report(f"lessons whose code uses {', '.join(keywords)}", 1)
                return [section]
        return []

    def _module_lessons(self, module: str, found: dict[int, Candidate]) -> None:
        """The tutorial's and HOWTOs' sections whose code uses a module ("Mathematics" for ``random``):
        they teach it as lessons do.  A heading that only spells the module's name as a word ("Random
        Remarks") does not."""
        match = f'{{body}} : ({fts_phrase(module)}) AND {{context}} : ("tutorial" OR "howto")'
        uses = re.compile(rf"\bimport {re.escape(module)}\b|\bfrom {re.escape(module)} import\b|"
                          rf"(?<![\w.]){re.escape(module)}\.\w+\(")
        counted = [(s, sum(len(uses.findall(b.text)) for b in s.blocks if b.literal))
                   for s, _ in self.kb.sections.search(match, SEARCH_LIMIT) if teaches(s) and not s.api_name]
        # Its prose names the module too: "TimePeriod" in the enum HOWTO uses datetime, and is about enums.
        said = re.compile(rf"(?<![\w.]){re.escape(module)}\b")
        hits = sorted([(s, n) for s, n in counted if n and any(
            not b.literal and said.search(b.text) for b in s.blocks)], key=lambda hit: -hit[1])
        self._report(f"lessons whose code uses {module}", len(hits))
        for section, count in hits[:5]:  # the lesson that uses it most first: "Mathematics", not an f-string's pi
            candidate = found.setdefault(section.id, Candidate(section))
            headed = module in normalise(section.heading).split()  # "Logging", not the cookbook's recipes
            candidate.module = max(candidate.module, 0.3 + 0.1 * min(count, 3) + (0.3 if headed else 0.0))

    def _asked(self, words: list[str], found: dict[int, Candidate]) -> None:
        """A question's words in the running text of the tutorial and the HOWTOs: "how do I copy a list?"
        is answered where the tutorial says ``list.copy()`` returns a shallow copy, in *More on Lists*;
        "remove duplicates" where *Sets* says they eliminate duplicate entries.  Words are matched by
        their beginning ("differ" for difference, different), since a question words things its own way;
        an entry that matches credits the section it is in."""
        every = " AND ".join(f'"{w[: max(4, len(w) - 3)]}" *' for w in words)
        match = f'{{body}} : ({every}) AND {{context}} : ("tutorial" OR "howto")'
        scored = [(s, r) for s, r in self.kb.sections.search(match, SEARCH_LIMIT) if teaches(s)]
        self._report(f'the tutorial\'s and HOWTOs\' text "{" ".join(words)}"', len(scored))
        top = scored[0][1] if scored and scored[0][1] > 0 else 1.0
        for section, rank in scored:
            target = section
            if section.api_name:  # ``list.copy`` in the tutorial: the section it is in teaches it
                parents = [p for p in self.kb.sections.of_page(section.doc_id) if not p.api_name and p.path
                           and section.path[: len(p.path)] == p.path]
                if not parents:
                    continue
                target = max(parents, key=lambda p: len(p.path))
            candidate = found.setdefault(target.id, Candidate(target))
            candidate.asked = max(candidate.asked, rank / top)

    def _parents(self, api: list[ManualSection]) -> dict[int, Candidate]:
        """The sections named entries are in, but a page's introduction: for a subject that is only API."""
        found: dict[int, Candidate] = {}
        for entry in api:
            for section in self.kb.sections.of_page(entry.doc_id):
                if (not section.api_name and len(section.path) > 1
                        and entry.path[: len(section.path)] == section.path):
                    found[section.id] = Candidate(section, 1.0, parent=True)
        return found

    def _teaching(self, candidates: dict[int, Candidate], wanted: set[str], named: Named) -> list[ManualSection]:
        """The best section, and a second one when the index points there too or it covers more words."""
        ranked = sorted((c for c in candidates.values() if c.score > 0), key=lambda c: (-c.score, c.section.id))
        if not ranked:
            return []
        best = ranked[0]
        chosen = [best.section]
        seen = words_of(best.section.heading) | words_of(" ".join(best.section.terms))
        for candidate in ranked[1:]:
            if len(chosen) == MAX_TEACHING:
                break
            adds = (wanted - seen) & (words_of(candidate.section.heading) | words_of(" ".join(candidate.section.terms)))
            # A module's introduction after the tutorial's section on it, when the subject is the module.
            # A module alone ("json"): its introduction and the tutorial's or a HOWTO's section on it.
            lesson = candidate.section.kind in ("tutorial", "howto")
            if named.modules:  # a lesson whose code uses the module, never one that only spells its name
                lessons = best.section.kind in ("tutorial", "howto")
                pair = candidate.module > 0 and best.module > 0 and (
                    (best.section.kind == "library" and lesson) or (lessons and candidate.section.kind == "library"))
            else:
                pair = {bool(candidate.module), bool(best.module)} == {True, False} and (
                    bool(candidate.module) or lesson)
            module = len(named.words) == 1 and pair
            if (candidate.by_term and best.by_term) or module or (adds and candidate.score >= 0.5 * best.score):
                chosen.append(candidate.section)
                seen |= words_of(candidate.section.heading)
        # The lesson's order: the tutorial's or a HOWTO's section first, then the reference's.
        return sorted(chosen, key=lambda s: LESSON_ORDER.get(s.kind, len(LESSON_ORDER)))

    def _with_subsections(self, teaching: list[ManualSection]) -> list[ManualSection]:
        """Each section, followed by its sub-sections in order when on its own it only introduces them
        (the Descriptor HowTo's "Primer" is one sentence: its examples are in the sub-sections)."""
        out: list[ManualSection] = []
        for section in teaching:
            out.append(section)
            if runnable(section) >= 2 or section.kind == "file":
                continue
            room = MAX_SUBSECTIONS if section.kind in ("tutorial", "howto") else 1
            below: dict[tuple[str, ...], ManualSection] = {}
            for s in self.kb.sections.of_page(section.doc_id):
                if (s.seq > section.seq and not s.api_name and len(s.path) > len(section.path)
                        and s.path[: len(section.path)] == section.path and s.id not in {t.id for t in teaching}):
                    below.setdefault(s.path, s)
            code = runnable(section)
            for s in below.values():
                if len(out) - out.index(section) > room or code >= MIN_CODE_BLOCKS:
                    break
                if section.kind == "library" and not runnable(s):
                    continue  # "Relevant PEPs", "Logger Objects": a reference page's parts, not its lesson
                out.append(s)
                code += runnable(s)
        return out

    def _more_examples(self, chosen: list[ManualSection], wanted: set[str],
                       candidates: dict[int, Candidate]) -> list[ManualSection]:
        """A section whose code shows its output, when the chosen ones show too little of it: the next
        one of the same page on the subject ("Generator Expressions" after "Generators"; any on a
        module's own page), else the best one found, else the page of a module their code imports
        (``timeit`` for "Performance Measurement")."""
        if not chosen or sum(shown(s) for s in chosen) >= MIN_SHOWN:
            return []
        ids = {s.id for s in chosen}
        for last in chosen[:1]:
            about_module = about_page(last, wanted)
            for section in self.kb.sections.of_page(last.doc_id):
                if (section.seq > last.seq and section.id not in ids and not section.api_name and shown(section)
                        and (about_module or words_of(section.heading) & wanted)):
                    return [section]
        ranked = sorted(candidates.values(), key=lambda c: -c.score)
        top = ranked[0].score if ranked else 0.0
        pages = {s.doc_id for s in chosen}
        for candidate in ranked:
            section = candidate.section
            own = words_of(section.heading) - STOPWORDS - GENERIC
            near = section.doc_id in pages or section.kind == "tutorial"
            # Headed with the whole subject on any page, or with half of it next to what was chosen.
            lesson = section.kind in ("tutorial", "howto") or about_page(section, wanted)
            on_subject = (wanted <= own and lesson) or (len(own & wanted) * 2 >= len(wanted) and near)
            if candidate.score >= 0.4 * top > 0 and section.id not in ids and shown(section) and on_subject:
                return [section]
        if chosen[0].kind != "tutorial":
            return []  # a tutorial's section shows a module at work (``timeit``); a library page is one
        code = "\n".join(b.text for s in chosen for b in s.blocks if b.literal)
        for module in re.findall(r"^\s*(?:>>> )?(?:from|import) ([a-z_]\w*)", code, re.M):
            page = self.kb.sections.of_page(f"manual:library/{module}")
            with_code = [s for s in page[:12] if not s.api_name and shown(s)]
            if with_code and with_code[0].id not in ids:
                return with_code[:1]
        return []

    def _api(self, named: Named) -> list[ManualSection]:
        """The API entries the subject names: ``str.split`` for "split" among "split, join, strip"."""
        entries: dict[str, list[ManualSection]] = {}
        for written in named.api_words:
            word = written if self.kb.sections.api(written) else singular(written)  # "sets": ``set``
            found = [s for s in self.kb.sections.api(word) if teaches(s)]
            if found:
                entries[word] = found
        self._report(f"API names {', '.join(named.api_words)}", sum(map(len, entries.values()))) \
            if named.api_words else None
        owner = owner_of(list(entries), {w: [s.api_name for s in e] for w, e in entries.items()})
        chosen: list[ManualSection] = []
        for word, found in entries.items():
            exact = fullest([s for s in found if s.api_name == word])
            owned = [s for s in found if owner and s.api_name == f"{owner}.{word.rsplit('.', 1)[-1]}"]
            modules = [s for s in found if s.api_name.split(".")[0] in named.modules]
            single = found if len(found) == 1 and ("_" in word or len(named.api_words) > 1) else []
            pick = exact or owned or modules or single
            chosen += pick[:1]
        chosen += self._asked_method(named)
        return list({s.id: s for s in chosen}.values())[:MAX_API]

    def _asked_method(self, named: Named) -> list[ManualSection]:
        """A question that is a built-in type's method and nothing more: "how do I copy a list?" asks
        for ``list.copy``, "how do I sort a list?" for ``list.sort`` (never "remove duplicates from a
        list", which is not what ``list.remove`` does)."""
        if not named.question or len(named.words) != 2:
            return []
        for owner_word, method in (named.words, named.words[::-1]):
            owner = _TYPE_WORDS.get(owner_word)
            entries = [e for e in self.kb.sections.api(f"{owner}.{method}") if teaches(e)] if owner else []
            if entries:
                self._report(f"API name {owner}.{method}", len(entries))
                return fullest(entries)[:1]
        return []

    @staticmethod
    def _api_features(api: list[ManualSection]) -> set[str]:
        """An entry's name is what its example calls: ``split`` for ``str.split``."""
        return {entry.api_name.rsplit(".", 1)[-1] for entry in api}
