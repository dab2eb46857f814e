"""Plain-text helpers shared by the knowledge base and the agents."""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

__all__ = (
    "STOPWORDS",
    "Block",
    "is_python_code",
    "normalise",
    "refers_elsewhere",
    "sentences",
    "singular",
    "split_blocks",
    "stands_alone",
)

STOPWORDS = frozenset(
    """
    a about above after again all also an and any are as at be because been before being below
    between both but by can could course did do does doing down during each explain explained
    few for from further guide had has have having how i if in into introduction is it its itself
    just learn learning me more most my no nor not now of off on once only or other our out over
    own python pythons same should so some such tell than that the their them then there these
    they this those through to too tutorial under understand understanding until up use used
    using very want was way we were what when where which while who why will with work working
    would you your
    """.split()
)

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def singular(word: str) -> str:
    """A light singular ("dictionaries" → "dictionary", "classes" → "class"), used on both
    sides of the index so that a subject's plural finds the documentation's singular."""
    if word.endswith("tools"):
        return word  # a module's name (itertools, functools), not a plural
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("atoes", "eroes", "choes", "etoes", "edoes")):
        return word[:-2]  # tomatoes, heroes, echoes: not "tomatoe"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ys")):
        return word[:-1]
    return word


_INDEX_WORD = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    """Text as the index sees it: lower-case words in singular form, nothing else."""
    return " ".join(singular(w) for w in _INDEX_WORD.findall(text.lower()))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(`])")


def sentences(paragraph: str) -> list[str]:
    """Split a reflowed paragraph into sentences (good enough for documentation prose)."""
    text = " ".join(paragraph.split())
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True, slots=True)
class Block:
    """A heading, a paragraph of prose (reflowed), or a literal block (kept verbatim)."""

    text: str
    kind: str  # "heading" | "prose" | "literal" | "note" (a note or warning, as prose) | "table" (Markdown)
    language: str = ""  # of a literal block: "python", "pycon" (an interactive session), "text" …

    @property
    def literal(self) -> bool:
        return self.kind == "literal"


_UNDERLINE = re.compile(r"([=*\-~^#+])\1{2,}")
_ADMONITION = re.compile(r"^(note|warning|see also|deprecated|changed in version|new in version)\b.*:$", re.I)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def split_blocks(text: str) -> list[Block]:
    """Cut documentation text into headings, prose paragraphs and literal blocks.

    Follows reStructuredText's rule as rendered to text: an indented block is
    literal (code, grammar) when a blank line and a paragraph ending in ":"
    precede it, or when it is an interactive ``>>>`` session; Markdown fences
    (```, ~~~) mark literal blocks too.  Any other
    indentation is a hanging indent or a quote, and is prose.  Prose lines are
    joined (the sources are hard-wrapped); literal blocks are kept byte for byte,
    dedented, so code examples survive intact.
    """
    lines = text.expandtabs().splitlines()
    blocks: list[Block] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if i + 1 < n and _UNDERLINE.fullmatch(lines[i + 1].strip()) and not _UNDERLINE.fullmatch(line.strip()):
            blocks.append(Block(line.strip(), "heading"))
            i += 2
            continue
        if _UNDERLINE.fullmatch(line.strip()):  # an overline or a stray rule
            i += 1
            continue
        previous = blocks[-1] if blocks else None
        after_colon = (
            previous is not None
            and previous.kind == "prose"
            and previous.text.endswith(":")
            and not _ADMONITION.match(previous.text)
            and i > 0
            and not lines[i - 1].strip()
        )
        fence = line.strip()[:3]
        if fence in ("```", "~~~"):
            start = i + 1
            i += 1
            while i < n and not lines[i].strip().startswith(fence):
                i += 1
            code = textwrap.dedent("\n".join(lines[start:i])).strip("\n")
            i += 1  # the closing fence
            if code.strip():
                blocks.append(Block(code, "literal"))
        elif line.lstrip().startswith(">>>"):
            start = i
            while i < n and lines[i].strip():
                i += 1
            blocks.append(Block(textwrap.dedent("\n".join(lines[start:i])), "literal"))
        elif (after_colon or "::=" in line) and _indent(line) > _indent_of_paragraph_before(lines, i):
            start, indent = i, _indent(line)
            while i < n and (not lines[i].strip() or _indent(lines[i]) >= indent):
                i += 1
            blocks.append(Block(textwrap.dedent("\n".join(lines[start:i])).strip("\n"), "literal"))
        else:
            start = i
            while i < n and lines[i].strip() and not lines[i].lstrip().startswith((">>>", "```", "~~~")):
                if i > start and i + 1 < n and _UNDERLINE.fullmatch(lines[i + 1].strip()):
                    break
                i += 1
            prose = " ".join(part.strip() for part in lines[start:i])
            if prose.endswith("::"):
                prose = prose[:-1]
            blocks.append(Block(prose, "prose"))
    return blocks


def _indent_of_paragraph_before(lines: list[str], i: int) -> int:
    """Indentation of the first line of the paragraph that ends above line ``i``."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    while j > 0 and lines[j - 1].strip():
        j -= 1
    return _indent(lines[j]) if j >= 0 else 0


def is_python_code(block: str) -> bool:
    """True for a literal block that is Python: an interactive session or source that parses."""
    stripped = block.strip()
    if stripped.startswith(">>>"):
        return True
    if "::=" in stripped or not stripped:
        return False
    try:
        tree = ast.parse(stripped)
    except (SyntaxError, ValueError):
        return False
    # A lone name or constant "parses" but is not an example worth showing.
    return not (len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
                and isinstance(tree.body[0].value, (ast.Name, ast.Constant)))


# Words that point at text a course may not show: a passage cut out of its page loses what it
# called "the example above", "the following table", "see section 4" or its footnote [1].
_ELSEWHERE = re.compile(
    r"\b(?:(?:above|below)\b(?!\s*[-+]?\d)|(?:the|these|those) following\b|as follows\b|following "
    r"(?:examples?|tables?|sections?|lists?|code|snippets?|functions|methods|classes|options|constants|strings"
    r"|ways|rules|steps)\b|mentioned (?:earlier|before|above|previously)|(?:discussed|described|explained|shown|"
    r"covered|defined|introduced) (?:earlier|later|previously|here|above|below|in (?:section|chapter)|in the "
    r"(?:next|previous|last))|(?:next|previous|preceding|last|later|earlier) (?:section|chapter|subsection|"
    r"examples?|paragraph|page)s?\b|(?:this|that) (?:table|section|subsection|chapter|page|document|example|"
    r"list|howto|tutorial|module's documentation)\b|these (?:examples|sections|tables)\b|see also\b|"
    r"see (?:section|chapter|the|our)\b|in section\b|(?:in|from) the (?:example|examples|table)\b|as shown\b|"
    r"here (?:are|is)\b|footnote)",
    re.I,
)
_FOOTNOTE = re.compile(r"(?<=[ .,;:])\[(?:\d+|#\w*|\*)\]_?")  # "text [1]", never ``sys.argv[0]``
# A sentence that opens on one of these leans on the one before it: alone, it means nothing.
_ANAPHORA = re.compile(
    r"^(?:this|that|these|those|it|its|they|their|them|such|here|then|otherwise|however|also|alternatively|"
    r"likewise|similarly|instead|thus|hence|so|once this|once that|in this case|in that case|for example|"
    r"for instance|as such|the latter|the former|both|but|and|or|yet|still|another|now that|now|finally|"
    r"on the other hand|some|again|next|further|furthermore|moreover|in addition|additionally|therefore|"
    r"consequently|as a result|even so|note also|nevertheless|rather|conversely|in contrast|secondly|lastly)\b"
    r"|^\w+(?: \w+)? (?:can |could |may |might |will |would |should |is |are )?also\b"  # "You can also use …"
    r"|^\w+,? (?:it|they|these|those)(?:'s|'re| is| are| was| were| can| does| do)\b",  # "Usually it's less …"
    re.I,
)
# Text that is not a sentence's start: a clause cut from the one before ("which is more concise and
# readable.", "should have the desired effect."), or an aside "(a naïve approach would …)".
_CUT = re.compile(r"^(?:[a-z]|\()")
# Where the rest of the manual is meant: "More information can be found in the old-string-formatting
# section.", "see bltin-exceptions" (a reST label, not a place a learner can go).
_MORE = re.compile(
    r"\b(?:more (?:information|details)|can be found in|is described in|are described in)\b|"
    r"\bsee [a-z]+(?:-[a-z]+)+\b|\b(?:the|this) [\w-]+ section\b",
    re.I,
)
_SEE_ASIDE = re.compile(r"\s*\((?:see|cf\.)\s[^()]*\)", re.I)


def refers_elsewhere(sentence: str) -> bool:
    """True when a sentence points at text around it: "the example above", "see section …", a footnote,
    "more information can be found in …"."""
    return bool(_ELSEWHERE.search(sentence) or _FOOTNOTE.search(sentence) or _MORE.search(sentence)
                or sentence.lstrip().startswith("See "))


def _leans(sentence: str) -> bool:
    """True for a sentence that only continues another: "But …", "Another difference is …", "You can
    also …", a clause cut from the sentence before ("which is …"), an aside in parentheses."""
    stripped = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", sentence)  # an item of a list says the same alone
    return bool(_ANAPHORA.match(stripped.lstrip("*_` ")) or _CUT.match(stripped))


def stands_alone(sentence: str) -> bool:
    """True for a sentence that makes sense on its own: a pitfall, a summary point, a quiz answer.

    Not a question either (a course's sentences answer; "What if …?" asks the reader of the page), nor
    an introduction to what follows ("…:")."""
    text = sentence.strip()
    return not refers_elsewhere(text) and not _leans(text) and not text.endswith(("?", ":"))
