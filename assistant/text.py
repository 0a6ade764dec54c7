"""Tokenising for BM25 and lexical checks: case folding, punctuation, English stop words
(scikit-learn's list) and Snowball stemming, so "predicts"/"prediction" and "models"/"model" meet.

    >>> tokenize("What do they PREDICT about software-engineering agents?")
    ['predict', 'softwar', 'engin', 'agent']
"""

from __future__ import annotations

import re
from collections.abc import Container
from functools import lru_cache

import snowballstemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Words that carry meaning in this domain although general stop-word lists drop them.
_KEEP = {"system", "computer", "thick", "thin", "full", "fire", "interest", "bill", "first", "last", "next", "top"}
STOP_WORDS = frozenset(w for w in ENGLISH_STOP_WORDS if w not in _KEEP) | {
    "s",
    "t",
    "d",
    "ll",
    "re",
    "ve",
    "m",
    "yeah",
    "like",
    "just",
    "really",
    "um",
    "uh",
    "okay",
    "mean",
    "think",
    "know",
    "kind",
    "sort",
    "thing",
    "things",
    "guess",
    "gonna",
    "lot",
    "lots",
    "say",
    "said",
    "does",
    "did",
    "doing",
    "episode",
    "podcast",
    "guests",
    "guest",
    "talk",
    "talked",
    "discuss",
    "discussed",
}
_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def tokenize(text: str, keep: frozenset[str] = frozenset()) -> list[str]:
    """The stemmed content words of ``text`` in order; ``keep``: stop words to keep, as they are.

    >>> tokenize("It works very well."), tokenize("It works very well.", keep=frozenset({"well"}))
    (['work'], ['work', 'well'])
    """
    out = []
    for w in _WORD.findall(text.lower().replace("’", "'")):
        base = w.split("'")[0]
        if w not in STOP_WORDS and base not in STOP_WORDS:
            out.append(_stem(base))
        elif w in keep:
            out.append(w)
    return out


# One sentence rule for everything that is split into sentences (source text, generated answers,
# a stream of tokens): a sentence ends at . ! or ? (with any closing quotes or brackets) followed by
# whitespace and a capital, a digit, an opening quote or markdown emphasis -- or by the end of the
# text. An abbreviation ("e.g.", "Dr.") or a bare list number ("1.", "### 2.") does not end one.
_END = re.compile(r"[.!?][\"”’')\]]*(?=\s+[\"“‘'(*]*[A-Z0-9]|\s*$)")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|vs|etc|Mr|Mrs|Ms|Dr|St|U\.S|approx|cf)|\b[A-Z])\.$", re.I)
_LIST_NUMBER = re.compile(r"^\s*(?:#+\s*)?\d{1,2}[.)]$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
# blocks: paragraphs, and markdown bullets (each bullet is its own statement)
_BLOCK = re.compile(r"\n\s*\n|\n(?=\s*[*-]\s)")


def _split_block(block: str) -> list[str]:
    out, start = [], 0
    for m in _END.finditer(block):
        piece = block[start : m.end()].strip()
        if not piece or _ABBREVIATION.search(piece) or _LIST_NUMBER.match(piece):
            continue
        out.append(piece)
        start = m.end()
    tail = block[start:].strip()
    return out + ([tail] if tail else [])


def split_sentences(text: str, lines: bool = False) -> list[str]:
    r"""Sentences of a quote or summary paragraph (markdown bullets become their own sentences).
    ``lines=True`` is for generated text: every line is its own block, list markers dropped.

    >>> split_sentences("RL works now. By 2026, e.g. agents? Yes!")
    ['RL works now.', 'By 2026, e.g. agents?', 'Yes!']
    >>> split_sentences("### 1. Introduction\n* **RL:** it works. Really.")
    ['### 1. Introduction', '* **RL:** it works.', 'Really.']
    >>> split_sentences("1. First point [1]\n2. Second point [2].", lines=True)
    ['First point [1]', 'Second point [2].']
    """
    blocks = text.splitlines() if lines else _BLOCK.split(text)
    parts: list[str] = []
    for block in blocks:
        if lines:
            block = _LIST_ITEM.sub("", block)
        block = re.sub(r"\s+", " ", block).strip()
        if block:
            parts.extend(_split_block(block))
    return parts


def finished_sentences(text: str, final: bool = False) -> tuple[str, str]:
    r"""``text`` split into its finished sentences and the unfinished rest: what a stream of tokens
    can release so far. A sentence counts as finished once the next one has begun; with
    ``final=True`` (the text will not grow: a cut-off generation) also when it ends the text.

    >>> finished_sentences("RL works [1]. Coding is verif")
    ('RL works [1].', 'Coding is verif')
    >>> finished_sentences("RL works [1].")
    ('', 'RL works [1].')
    >>> finished_sentences("RL works [1]. Coding is", final=True)
    ('RL works [1].', 'Coding is')
    """
    last = 0
    for m in _END.finditer(text):
        if m.end() >= len(text.rstrip()) and not final:
            break  # at the very end: the next token may continue it ("3." -> "3.5")
        piece = text[last : m.end()].strip()
        if piece and not _ABBREVIATION.search(piece) and not _LIST_NUMBER.match(piece):
            last = m.end()
    return text[:last].strip(), text[last:].lstrip()


# --- answer text: markdown out, spans checkable against their source ---------------------------------
_BULLET = re.compile(r"^[ \t]*(?:[-*•+]|\d{1,2}[.)])[ \t]+", re.M)
_EMPHASIS = re.compile(r"(\*\*|__|`)|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\s]*\)")


def plain(text: str) -> str:
    r"""Markdown removed, whitespace collapsed: what an answer may show of a source. Words are kept
    verbatim, so a span of ``plain(source)`` is still checkable against the source.

    >>> plain("### 2. Insights\n*   **RL Success:** it *finally* works (see [paper](http://x)).")
    'Insights RL Success: it finally works (see paper).'
    """
    text = re.sub(r"^[ \t]*#+[ \t]*", "", text, flags=re.M)
    text = _LINK.sub(r"\1", _BULLET.sub("", text))
    return re.sub(r"\s+", " ", _EMPHASIS.sub("", text)).strip()


ELLIPSIS = "…"


def locate(span: str, source: str) -> tuple[int, int] | None:
    """Where ``span`` (an answer's quoted words, "…" marking a cut) sits in ``plain(source)``."""
    needle = plain(span).strip(ELLIPSIS + " ")
    if not needle:
        return None
    haystack = plain(source)
    at = haystack.find(needle)
    return (at, at + len(needle)) if at >= 0 else None


def cut_mid_word(span: str, source: str) -> bool | None:
    """True when ``span`` starts or ends inside a word of ``source``; None when it is not in the
    source verbatim (markdown aside). A source that is itself a cut (an entity's transcript window,
    ``window=True`` callers) should be passed with its cut ends marked by "…" on both sides.

    >>> cut_mid_word("RL finally works", "So RL finally works.")
    False
    >>> cut_mid_word("nally works", "So RL finally works.")
    True
    """
    where = locate(span, source)
    if where is None:
        return None
    flat = plain(source)
    before = flat[where[0] - 1] if where[0] > 0 else " "
    after = flat[where[1]] if where[1] < len(flat) else " "
    return before.isalnum() or after.isalnum()


# An analysis file's entity names are at times cut from the transcript with the word before them ("So
# Stanford", "With WorkOS", "But I") or carry a note ("OpenAI (Implied)"). Shown, they go without; a pronoun
# is no name. The file's own name stays what is searched, what the window is cut around and what the API gives.
_NAME_LEAD = re.compile(r"^(?i:but|so|and|like|with|through|in|do|then|because|or)\s+(?=[A-Z0-9])")
_NAME_NOTE = re.compile(r"\s*\((?i:implied|inferred|likely)\)$")
_NOT_NAMES = frozenset({"i", "we", "you", "he", "she", "they", "it"})


def shown_name(name: str | None) -> str | None:
    """An entity's name as a reader should see it: None when the file's name is no name at all.

    >>> shown_name("So Stanford"), shown_name("OpenAI (Implied)"), shown_name("But I"), shown_name("Our Success")
    ('Stanford', 'OpenAI', None, 'Our Success')
    """
    if not name:
        return None
    shown = _NAME_LEAD.sub("", _NAME_NOTE.sub("", name.strip()))
    return None if shown.lower() in _NOT_NAMES else shown


def among_names(word: str, names: Container[str]) -> bool:
    """``word`` is one of ``names`` (lower case), maybe plural or a possessive typed with or without its
    apostrophe ("claudes", "trenton's", "trentons").

    >>> among_names("Trentons", {"trenton"}), among_names("gpus", {"gpu"}), among_names("paper", {"piper"})
    (True, True, False)
    """
    low = word.lower().replace("’", "'").removesuffix("'s")
    return low in names or (low.endswith("s") and low[:-1] in names)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``limit + 1`` once it is sure to exceed ``limit``
    (names as a transcript hears them: ``refusal._misheard``, ``spelling.sounds_like``).

    >>> edit_distance("geoguessr", "geogessor", 2), edit_distance("sholto", "shulta", 1)
    (2, 2)
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        if min(row) > limit:
            return limit + 1
    return row[-1]


# An analysis file cuts an entity's transcript context as ``transcript[p - 50 : p + len(name) + 50]``
# and strips it: on the bundled episode the name sits 50 characters into 36 of its 45 windows and 49
# into 9 (a space was stripped), with 50 or 49 characters after it.
WINDOW_RADIUS = 50


def window_edges(text: str, name: str | None, position: int | None) -> tuple[bool, bool]:
    """Whether an entity's transcript window starts and ends on a word boundary of the transcript:
    known where the strip removed a space at that edge (the name sits ``WINDOW_RADIUS`` - 1 from it),
    or the window starts where the transcript does. Otherwise the edge may be a cut word.

    >>> window_edges("Shulta is scaling RL, Trenton's still working on Mechanistic Interpretability. Welcome "
    ...              "back. Happy to be here. Yeah, it's fun.", "Mechanistic Interpretability", 318)
    (True, True)
    >>> window_edges("ifferently. But we didn't have Shulta Brickin and Trenton Brickin. Shulta Douglas and "
    ...              "Trenton Brickin, who are now", "Trenton Brickin", 169)
    (False, True)
    """
    if not name:
        return False, False
    low, name = text.lower(), name.lower()
    places = (WINDOW_RADIUS - 1, WINDOW_RADIUS, position)  # where the name sits in a window cut as above
    at = next((a for a in places if a is not None and low.startswith(name, a)), -1)
    if at < 0:
        return False, False
    head = at == WINDOW_RADIUS - 1 or (at == position and at < WINDOW_RADIUS)
    tail = len(text) - at - len(name) == WINDOW_RADIUS - 1
    return head, tail


def whole_words(text: str, name: str | None, position: int | None) -> str:
    """An entity's transcript window as a reader should see it: the words it cut at either edge left
    out, and "…" wherever a sentence is cut; nothing else changed (the source card shows the context,
    not only the answer's sentences).

    >>> whole_words("d at spotting a photo. Kelsey Piper, who made this viral, their prompt is so", "Kelsey Piper", 86)
    '…at spotting a photo. Kelsey Piper, who made this viral, their prompt is…'
    """
    head, tail = window_edges(text, name, position)
    words = " ".join(text.split()).split(" ")
    if len(words) < 3:
        return " ".join(words)
    words = words[(0 if head else 1) : (len(words) if tail else -1)]
    body = " ".join(words).strip(" ,;:-—")
    # a whole word that is not a sentence's start or end still leaves the sentence cut
    opens = head and body[:1].isupper()
    closes = tail and bool(re.search(r"[.!?][\"”’')\]]*$", body))
    return f"{'' if opens else ELLIPSIS}{body}{'' if closes else ELLIPSIS}"
