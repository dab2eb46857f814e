"""What a request asks for: a subject's key terms (in English, whatever the language it came in),
or a sign that it is not a subject at all (small talk, a follow-up to a previous answer).

French subjects are read through a glossary of Python concepts, not a translator:
"les générateurs" and "generators" plan the same queries, so they find the same
course.  Words are compared without accents and case ("Générateurs" is
"generateurs"); the index's tokenizer folds accents the same way.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass

from ._text import STOPWORDS, singular

__all__ = ("Subject", "fold", "read_subject")


def fold(text: str) -> str:
    """Lower case, accents removed, typographic apostrophes made plain: how subjects are compared."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# French (accent-folded) → the words the manual uses.  Longest phrases are applied first.
FRENCH: dict[str, str] = {
    "generateurs": "generators", "generateur": "generator", "iterateurs": "iterators", "iterateur": "iterator",
    "comprehensions de liste": "list comprehensions", "comprehension de liste": "list comprehension",
    "listes en comprehension": "list comprehensions", "liste en comprehension": "list comprehension",
    "dictionnaires": "dictionaries", "dictionnaire": "dictionary", "listes": "lists", "liste": "list",
    "ensembles": "sets", "ensemble": "set", "chaines de caracteres": "strings", "chaine de caracteres": "string",
    "chaines formatees": "f-strings", "chaines": "strings", "chaine": "string",
    "gestionnaires de contexte": "context managers", "gestionnaire de contexte": "context manager",
    "decorateurs": "decorators", "decorateur": "decorator", "fermetures": "closures", "fermeture": "closure",
    "boucles for": "for loops", "boucle for": "for loop", "boucles": "loops", "boucle": "loop",
    "fonctions": "functions", "fonction": "function", "heritage": "inheritance", "classes": "classes",
    "expressions regulieres": "regular expressions", "expression reguliere": "regular expression",
    "tri": "sorting", "trier": "sorting", "fonctions cles": "key functions", "fonction cle": "key function",
    "fichiers": "files", "fichier": "file", "chemins": "paths", "chemin": "path",
    "exceptions": "exceptions", "erreurs": "errors", "erreur": "error", "gestion des erreurs": "exceptions",
    "taches asynchrones": "asyncio tasks", "asynchrone": "async", "programmation asynchrone": "asyncio",
    "fils d'execution": "threading", "journalisation": "logging", "descripteurs": "descriptors",
    "descripteur": "descriptor", "tuples nommes": "namedtuple", "annotations de type": "type hints",
    "indications de type": "type hints", "portee des variables": "scope", "portee": "scope",
    "variables": "variables", "tranches": "slicing", "modules": "modules", "paquets": "packages",
    "nombres": "numbers", "entiers": "integers", "flottants": "floating point", "dates": "datetime",
}
# Names programmers use for what the manual calls otherwise, read like the French ones (but they
# say nothing of the request's language).
SYNONYMS: dict[str, str] = {
    "walrus operators": "assignment expressions", "walrus operator": "assignment expression",
    "walrus": "assignment expression", "named expressions": "assignment expressions",
    "named expression": "assignment expression", "dunder methods": "special methods",
    "magic methods": "special methods", "dunder method": "special method", "magic method": "special method",
    # Doing something with files is the subject "files" (the tutorial's "Reading and Writing Files"):
    # "read" alone names every "Read and write Sun AU files" module.
    **{f"{verb} {article}{noun}": "reading and writing files"
       for verb in ("read", "reading", "write", "writing", "open", "opening", "read and write",
                    "reading and writing", "write to", "writing to")
       for article in ("", "a ", "the ", "text ", "a text ")
       for noun in ("file", "files")},
}
_ALSO_ENGLISH = frozenset({"dates", "ensemble", "ensembles"})
_FRENCH_KEYS = sorted(FRENCH, key=len, reverse=True)
_SYNONYM_KEYS = sorted(SYNONYMS, key=len, reverse=True)
_FRENCH_STOPWORDS = frozenset(
    """le la les l un une des du de d en et ou sur pour avec dans par au aux ce cette ces que qu quoi
    comment cours apprendre expliquer explique explique-moi moi je tu il nous vous est sont faire utiliser
    utilisation qu'est-ce qu'est ce c'est mon ma mes ton ta tes son sa ses leur leurs introduction tutoriel""".split()
)

# Words that ask something of the assistant rather than name a subject.  A request
# made only of these (and stopwords) is small talk or a follow-up, not a subject.
_SMALL_TALK = frozenset(
    """hi hello hey thanks thank thx cheers bye goodbye ok okay yes no great cool nice good morning evening
    bonjour salut merci bonsoir oui non super parfait ciao please pls plz lol wow awesome perfect""".split()
)
_FOLLOW_UP = frozenset(
    """make it shorter longer simpler again more less another rewrite redo continue go on translate
    summarize summarise summary shorten expand elaborate detail details previous last answer same
    fewer better worse now that this those them example examples please can could you me plus court
    courte encore refais recommence traduis resume continue version give show tell write want need
    wrote written said""".split()
)
_FOLLOW_UP_PHRASE = re.compile(
    r"\b(make it|do it|say it|explain it|that again|in french|in english|en francais|en anglais|"
    r"plus court|plus simple|more examples?|the same|one more)\b"
)

_WORD = re.compile(r"[^\W\d_][\w'-]*|\d+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Subject:
    text: str  # as asked
    english: str  # folded, French phrases replaced by the manual's words
    terms: tuple[str, ...]  # key terms, singular, in order
    kind: str  # "subject" | "small_talk" | "follow_up"
    french: bool = False


# Python keywords are stopwords in prose but the subject itself in "the with
# statement" or "for loops": one is kept when such a word follows it.
_KEYWORD_MARKERS = frozenset(
    {"statement", "statements", "loop", "loops", "keyword", "keywords", "clause", "clauses",
     "block", "blocks", "expression", "expressions", "operator", "operators"}
)


def _key_words(english: str) -> list[str]:
    words = [raw.strip("'-").split("'")[-1] for raw in _WORD.findall(english)]  # "l'heritage": the article goes
    seen: dict[str, None] = {}
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        named_keyword = keyword.iskeyword(word) and following in _KEYWORD_MARKERS
        if len(word) < 2 or ((word in STOPWORDS or word in _FRENCH_STOPWORDS) and not named_keyword):
            continue
        seen.setdefault(word if named_keyword else singular(word), None)
    return list(seen)


def read_subject(text: str) -> Subject:
    """Read a request: its key terms, or why it is not a subject."""
    folded = " ".join(fold(text).split())
    english = folded
    french = False
    for key in _FRENCH_KEYS:
        pattern = rf"(?<![\w-]){re.escape(key)}(?![\w-])"
        if re.search(pattern, english):
            english = re.sub(pattern, FRENCH[key], english)
            # "exceptions", "classes", "dates" are English words too: alone they say nothing of the language.
            french = french or (FRENCH[key] != key and key not in _ALSO_ENGLISH)
    french = french or any(w in _FRENCH_STOPWORDS for w in _WORD.findall(folded))
    for key in _SYNONYM_KEYS:
        english = re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", SYNONYMS[key], english)
    terms = _key_words(english)
    if re.search(r"(?<![\w.])\d*\.\d+\s*[-+*/=<>]|\bround\(\s*\d*\.\d+", folded) and "float" not in terms:
        # "why is 0.1 + 0.2 not 0.3?", "round(2.675, 2)": arithmetic on decimal literals asks about the
        # limits of floating point numbers (not "python 3.11", a version).
        topic = [t for t in ("floating", "point", "limitation") if t not in terms]
        terms = [t for t in terms if not t.isdigit()] + topic
    meaningful = [t for t in terms if t not in _SMALL_TALK and t not in _FOLLOW_UP]
    if not meaningful:
        asks = _FOLLOW_UP_PHRASE.search(folded) or any(t in _FOLLOW_UP for t in terms)
        return Subject(text, english, tuple(terms), "follow_up" if asks else "small_talk", french)
    if _FOLLOW_UP_PHRASE.search(folded) and len(meaningful) <= 1 and len(terms) > 2 * len(meaningful):
        return Subject(text, english, tuple(terms), "follow_up", french)
    return Subject(text, english, tuple(meaningful), "subject", french)
