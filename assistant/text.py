"""Tokenising for BM25 and lexical checks: case folding, punctuation, English stop words
(scikit-learn's list) and Snowball stemming, so "predicts"/"prediction" and "models"/"model" meet.

    >>> tokenize("What do they PREDICT about software-engineering agents?")
    ['predict', 'softwar', 'engin', 'agent']
"""
from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Words that carry meaning in this domain although general stop-word lists drop them.
_KEEP = {"system", "computer", "thick", "thin", "full", "fire", "interest", "bill", "first", "last", "next", "top"}
STOP_WORDS = frozenset(w for w in ENGLISH_STOP_WORDS if w not in _KEEP) | {
    "s", "t", "d", "ll", "re", "ve", "m", "yeah", "like", "just", "really", "um", "uh", "okay", "mean",
    "think", "know", "kind", "sort", "thing", "things", "guess", "gonna", "lot", "lots", "say", "said",
    "does", "did", "doing", "episode", "podcast", "guests", "guest", "talk", "talked", "discuss", "discussed",
}
_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def tokenize(text: str) -> list[str]:
    words = _WORD.findall(text.lower().replace("’", "'"))
    return [_stem(w.split("'")[0]) for w in words if w not in STOP_WORDS and w.split("'")[0] not in STOP_WORDS]


def split_sentences(text: str) -> list[str]:
    """Sentences of a quote or summary paragraph (markdown bullets become their own sentences)."""
    parts: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*[*-]\s)", text):
        block = re.sub(r"\s+", " ", block).strip()
        if block:
            parts.extend(s.strip() for s in re.split(r"(?<=[^\d\s][.!?])\s+(?=[A-Z0-9\"'*(])", block) if s.strip())
    return parts
