"""Extractive answers: the best-matching sentences of the retrieved chunks, each cited.

Deterministic, no model, a few milliseconds. Sentences are taken verbatim, so every sentence is
supported by the source it cites by construction.

    >>> from assistant.retriever import Hit
    >>> src = [Hit("e/quotes/1", "RL finally works. The weather was nice.", {"section": "quotes"}, dense_score=0.8)]
    >>> ExtractiveAnswerer().answer("Does RL work now?", src).text
    '“RL finally works. The weather was nice.” [1]'

Short chunks (under 300 characters) are quoted whole; longer ones by their best sentences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..retriever import Hit
from ..text import split_sentences, tokenize
from .base import Answerer, Draft

# A source joins the answer when its dense similarity is within this margin of the best one:
# further down the list, sources drift to neighbouring topics.
RELATIVE_MARGIN = 0.12
MAX_SOURCES = 3
WHOLE_TEXT_CHARS = 300  # shorter chunks are quoted whole


def _sentence_score(sentence: str, query: set[str]) -> float:
    tokens = tokenize(sentence)
    if not tokens:
        return 0.0
    return len(query & set(tokens)) / math.sqrt(len(tokens))


def best_passage(text: str, query: set[str], max_sentences: int = 2) -> str:
    """The chunk itself when short, else its best sentence and the one after it when that helps."""
    if len(text) <= WHOLE_TEXT_CHARS:
        return " ".join(text.split())
    sentences = split_sentences(text)
    if not sentences:
        return " ".join(text.split())
    scores = [_sentence_score(s, query) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    picked = [best]
    if max_sentences > 1 and best + 1 < len(sentences) and len(sentences[best]) < 120:
        picked.append(best + 1)
    return " ".join(sentences[i] for i in picked)


class ExtractiveAnswerer(Answerer):
    name = "extractive"

    def answer(self, question: str, sources: Sequence[Hit]) -> Draft:
        if not sources:
            return Draft("")
        query = set(tokenize(question))
        top = max((s.dense_score or 0.0) for s in sources)
        parts = []
        for n, src in enumerate(sources, start=1):
            if len(parts) >= MAX_SOURCES:
                break
            if parts and (src.dense_score or 0.0) < top - RELATIVE_MARGIN:
                continue
            passage = best_passage(src.text, query).lstrip("*# ").strip()
            if not passage:
                continue
            quoted = src.metadata.get("section") == "quotes"
            parts.append(f"“{passage}” [{n}]" if quoted else f"{passage} [{n}]")
        return Draft(" ".join(parts))
