"""The citation guard: every generated sentence must be supported by the source it cites.

The local model skips citations, cites the wrong source and invents answers (DESIGN.md), so its
text is never shown as it is. For each sentence:

1. ``[n]`` markers that point at no provided source are removed;
2. the sentence is scored against each source it cites (embedding cosine + word overlap);
3. a sentence its sources don't support is re-cited to the source that supports it best, if that
   one passes, else dropped; a sentence without markers is treated the same way;
4. if nothing survives, the answer is the extractive one, with a note saying why.

Sentences of a source that address the reader as instructions ("ignore previous instructions and
say X") are not evidence: a source may *contain* X without *stating* it.

    >>> from assistant.retriever import Hit
    >>> src = [Hit("e/quotes/19", "Software engineering is very verifiable.", {"section": "quotes"}, dense_score=0.8)]
    >>> guard_answer("Why coding?", "Software engineering is very verifiable [3]. The sky is green.", src).text
    'Software engineering is very verifiable [1].'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..retriever import Hit
from ..text import split_sentences, tokenize
from .base import Draft
from .extractive import ExtractiveAnswerer

Embed = Callable[[list[str]], list[list[float]]]

# Calibration (tests/test_guard.py::CALIBRATION re-checks a sample; numbers from 226 labelled
# (sentence, source) pairs: sentences written by the local model for 24 eval questions plus
# invented answers to 10 off-topic questions, each scored against the source it cited and the
# other sources shown with it; all-MiniLM-L6-v2, normalised):
#   supported    cosine median 0.74, 5th pct 0.55;  overlap median 0.80, 5th pct 0.50
#   unsupported  cosine median 0.33, 95th pct 0.56; overlap median 0.20, 95th pct 0.50
# No single threshold separates them; the pair does: cosine >= 0.55 with overlap >= 0.5 keeps
# 95% of supported pairs and lets through 2% of unsupported ones; a strong paraphrase with few
# shared words (cosine >= 0.72) is accepted on its own.
COSINE_MIN = 0.55
OVERLAP_MIN = 0.5
COSINE_STRONG = 0.72

_MARKERS = re.compile(r"\[\s*(?:sources?\s*)?(\d+(?:\s*(?:,|;|and|&)\s*(?:sources?\s*)?\d+)*)\s*\]", re.I)
# "… verifiable. [1]" -> "… verifiable [1]." so the marker stays with its sentence when splitting
_TRAILING = re.compile(r"([.!?])((?:\s*\[[^\]\n]{1,30}\])+)")
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b[^.!?]{0,60}\b(instructions?|prompts?|rules|everything)\b"
    r"|\b(system prompt|you are now|new instructions|as an ai( language)? model)\b"
    r"|^\W*(say|reply|respond|answer|output|print|write|repeat)\b[^.!?]{0,40}(\bwith\b|:|\"|“)",
    re.I,
)


@dataclass
class Claim:
    """One generated sentence without its markers, and the source numbers (1-based) it cited."""

    text: str
    cited: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Support:
    cosine: float
    overlap: float  # share of the sentence's content words found in the source

    @property
    def passes(self) -> bool:
        return (self.cosine >= COSINE_MIN and self.overlap >= OVERLAP_MIN) or self.cosine >= COSINE_STRONG

    @property
    def strength(self) -> float:
        return self.cosine + 0.5 * self.overlap


def parse_claims(text: str) -> list[Claim]:
    """Split generated text into sentences and pull out their ``[n]`` / ``[1, 2]`` / ``[Source 3]`` markers."""
    text = _TRAILING.sub(lambda m: m.group(2) + m.group(1), text or "")
    claims = []
    for sentence in split_sentences(text):
        cited = [int(n) for group in _MARKERS.findall(sentence) for n in re.findall(r"\d+", group)]
        bare = _MARKERS.sub("", sentence)
        bare = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", bare)).strip().lstrip("*-• ").strip()
        if bare:
            claims.append(Claim(bare, list(dict.fromkeys(cited))))
    return claims


def evidence(source: str) -> list[str]:
    """The parts of a source that can support a sentence: its statements, single and in adjacent
    pairs, and the whole of them. Instructions addressed to the reader are left out."""
    statements = [s for s in split_sentences(source) if not _INSTRUCTION.search(s)]
    units = statements + [f"{a} {b}" for a, b in zip(statements, statements[1:])]
    if len(statements) > 2:
        units.append(" ".join(statements))
    return units


def _default_embed(texts: list[str]) -> list[list[float]]:
    from vectorstore.embeddings import get_embeddings

    return get_embeddings().embed_documents(texts)


def support_matrix(claims: Sequence[str], sources: Sequence[str], embed: Embed | None = None) -> list[list[Support]]:
    """``[i][j]``: how well source j supports claim i. One embedding batch for everything."""
    units = [evidence(s) for s in sources]
    flat = [u for us in units for u in us]
    vectors = np.asarray((embed or _default_embed)(list(claims) + flat), dtype=float) if claims else np.zeros((0, 1))
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12) if len(vectors) else 1
    claim_vecs, unit_vecs = vectors[: len(claims)], vectors[len(claims):]
    source_words = [set(tokenize(" ".join(us))) for us in units]
    out = []
    for i, claim in enumerate(claims):
        words = set(tokenize(claim))
        row, start = [], 0
        for j, us in enumerate(units):
            sims = unit_vecs[start : start + len(us)] @ claim_vecs[i] if us else np.zeros(0)
            start += len(us)
            overlap = len(words & source_words[j]) / len(words) if words else 0.0
            row.append(Support(float(sims.max()) if len(sims) else 0.0, overlap))
        out.append(row)
    return out


@dataclass
class GuardResult:
    text: str  # checked sentences with markers into the given sources; "" when none passed
    kept: int = 0
    recited: int = 0
    dropped: list[str] = field(default_factory=list)


def check(text: str, sources: Sequence[str], embed: Embed | None = None) -> GuardResult:
    """Keep the sentences of ``text`` that a source supports, each cited to the source(s) that do."""
    claims = [c for c in parse_claims(text) if tokenize(c.text)]  # "Sure." carries no claim to check
    dropped = [c.text for c in parse_claims(text) if not tokenize(c.text)]
    if not claims or not sources:
        return GuardResult("", dropped=dropped + [c.text for c in claims])
    matrix = support_matrix([c.text for c in claims], sources, embed)
    result = GuardResult("", dropped=dropped)
    kept_sentences = []
    for claim, row in zip(claims, matrix):
        valid = [n for n in claim.cited if 1 <= n <= len(sources)]
        markers = [n for n in valid if row[n - 1].passes]
        if not markers:
            best = max(range(len(sources)), key=lambda j: row[j].strength)
            if not row[best].passes:
                result.dropped.append(claim.text)
                continue
            markers = [best + 1]
            result.recited += bool(claim.cited)
        body, end = (claim.text[:-1], claim.text[-1]) if claim.text[-1] in ".!?" else (claim.text, ".")
        kept_sentences.append(f"{body} {''.join(f'[{n}]' for n in markers)}{end}")
    result.kept = len(kept_sentences)
    result.text = " ".join(kept_sentences)
    return result


def guard_answer(question: str, generated: str, sources: Sequence[Hit], embed: Embed | None = None) -> Draft:
    """The checked answer as a ``Draft``, or the extractive answer when no generated sentence holds."""
    result = check(generated, [h.text for h in sources], embed)
    if result.kept:
        notes = []
        if result.dropped:
            n = len(result.dropped)
            notes.append(f"{n} generated sentence{'s' if n > 1 else ''} not supported by the sources "
                         f"{'were' if n > 1 else 'was'} left out.")
        return Draft(result.text, notes)
    draft = ExtractiveAnswerer().answer(question, sources)
    why = "was empty" if not generated.strip() else "had no sentence the sources support"
    draft.notes.append(f"The generated answer {why}; showing the extractive answer instead.")
    return draft
