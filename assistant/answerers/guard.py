"""The citation guard: every generated sentence must be supported by the source it cites.

The local model skips citations, cites the wrong source and invents answers (see the calibration
note below), so its text is never shown as it is. For each sentence:

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
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..retriever import Hit
from ..text import split_sentences, tokenize
from .base import Draft
from .extractive import ExtractiveAnswerer

Embed = Callable[[list[str]], Sequence[Sequence[float]]]

# Calibration: 251 labelled (sentence, source) pairs, all-MiniLM-L6-v2 normalised. 42 sentences the
# local model wrote for 23 eval questions and, bypassing refusal, for 8 off-topic ones (invented
# answers), each scored against the 5 sources it was shown; plus 21 hand-written paraphrases of a
# quote and 20 same-topic false statements, each against one quote. Labelled by reading the sources.
#   supported (45)     cosine median 0.82, 5th pct 0.50   overlap median 0.90, 5th pct 0.35
#   unsupported (206)  cosine median 0.35, 95th pct 0.65  overlap median 0.14, 95th pct 0.57
# No one threshold separates them. cosine >= 0.60 with overlap >= 0.60, or cosine >= 0.72 alone (a
# paraphrase in other words), plus the number and negation checks below: 37 of 42 supported sentences
# kept, all cited to a right source; 4 of 41 unsupported ones pass (near-verbatim sentences with one
# wrong word: "sparse" for "dense", a number moved to the wrong year). Without the number/negation
# checks 9 unsupported pairs pass instead of 4. The grid optimum (0.53/0.55) keeps 2 more supported
# sentences for 1 more false one; the stricter pair was chosen because the fallback is safe.
# The labelled set is also what tuned the thresholds: there is no held-out set yet.
# (tests/test_guard.py::CALIBRATION re-checks a sample near the boundary.)
COSINE_MIN = 0.60
OVERLAP_MIN = 0.60
COSINE_STRONG = 0.72

_MARKER_GROUP = r"\[\s*(?:sources?\s*)?\d+(?:\s*(?:,|;|and|&)\s*(?:sources?\s*)?\d+)*\s*\]"
_MARKERS = re.compile(_MARKER_GROUP, re.I)
# "... verifiable. [1]" -> "... verifiable [1]." so the marker stays with its sentence when splitting
_TRAILING = re.compile(r"([.!?])((?:\s*,?\s*" + _MARKER_GROUP + r")+)", re.I)
# "According to [2], X" cites 2 for X; "as shown in [1] and [4]" uses markers as nouns: the words
# that point at the marker go with it, so that no "comes up in and." is left behind.
_LEAD_IN = re.compile(
    r"^(?:according to|as (?:stated|said|mentioned|noted|described) in|per|in|from)\s+"
    r"(?:the\s+)?(?:sources?\s+)?(" + _MARKER_GROUP + r")\s*,?\s*",
    re.I,
)
_POINTER = re.compile(r"(?:\s*\b(?:in|from|see|by|and|or|the|source|sources|quote|quotes)\b)*\s*" + _MARKER_GROUP, re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATION = re.compile(r"\b(?:not|no|never|none|nothing|neither|nor|cannot|without)\b|n't\b", re.I)
_VERDICT = re.compile(r"^\s*(?:yes|no)\b", re.I)
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
    """How well one source supports one sentence."""

    cosine: float  # best cosine between the sentence and a statement (or two adjacent ones) of the source
    overlap: float  # share of the sentence's content words found in the source
    numbers_ok: bool = True  # every number in the sentence occurs in the source
    polarity_ok: bool = True  # a negated sentence needs a negated statement (embeddings barely see "not")
    verdict: bool = False  # the sentence opens with "Yes"/"No": a verdict on the question needs the strong bar

    @property
    def passes(self) -> bool:
        if not (self.numbers_ok and self.polarity_ok):
            return False
        if self.verdict:
            return self.cosine >= COSINE_STRONG
        return (self.cosine >= COSINE_MIN and self.overlap >= OVERLAP_MIN) or self.cosine >= COSINE_STRONG

    @property
    def strength(self) -> float:
        return self.passes + self.cosine + 0.5 * self.overlap


def attach_markers(text: str) -> str:
    """``"... verifiable. [1]"`` -> ``"... verifiable [1]."``: a marker after the full stop still
    belongs to the sentence before it."""
    return _TRAILING.sub(lambda m: m.group(2) + m.group(1), text or "")


def parse_claims(text: str) -> list[Claim]:
    """Split generated text into sentences and pull out their ``[n]`` / ``[1, 2]`` / ``[Source 3]`` markers."""
    claims = []
    for sentence in split_sentences(attach_markers(text), lines=True):
        cited = [int(n) for group in _MARKERS.findall(sentence) for n in re.findall(r"\d+", group)]
        bare = _LEAD_IN.sub("", sentence)
        bare = _POINTER.sub("", bare)
        bare = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", bare)).strip(" ,;:")
        if bare:
            claims.append(Claim(bare[0].upper() + bare[1:], list(dict.fromkeys(cited))))
    return claims


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def evidence(source: str) -> list[str]:
    """The statements of a source that can support a sentence; instructions addressed to the reader
    ("ignore previous instructions and say X") are left out."""
    return [s for s in split_sentences(source) if not _INSTRUCTION.search(s)]


_cache: dict[str, np.ndarray] = {}  # source sentences recur across questions (1.5 KB each)
_CACHE_MAX = 5_000
_cache_lock = threading.Lock()


def _default_embed(texts: list[str]) -> list[np.ndarray]:
    from vectorstore.embeddings import get_embeddings

    with _cache_lock:
        known = {t: _cache[t] for t in texts if t in _cache}
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        fresh = dict(zip(missing, np.asarray(get_embeddings().embed_documents(missing), dtype=np.float32)))
        known.update(fresh)
        with _cache_lock:
            if len(_cache) + len(fresh) > _CACHE_MAX:
                _cache.clear()
            _cache.update(fresh)
    return [known[t] for t in texts]


def _unit_vectors(sentence_vecs: np.ndarray) -> np.ndarray:
    """Each statement, each two adjacent ones, and all of them together (a sentence of the answer may
    condense several). Combinations are normalised sums of the statements' vectors: embedding every
    combination as text took 1-3 s per answer, this takes microseconds (calibrated this way)."""
    n = len(sentence_vecs)
    units = [sentence_vecs] + ([sentence_vecs[:-1] + sentence_vecs[1:]] if n > 1 else [])
    if n > 2:
        units.append(sentence_vecs.sum(axis=0, keepdims=True))
    out = np.vstack(units)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _texts_of_units(statements: list[str]) -> list[str]:
    """The texts matching ``_unit_vectors``' rows, for the negation check."""
    pairs = [f"{a} {b}" for a, b in zip(statements, statements[1:])]
    return statements + pairs + ([" ".join(statements)] if len(statements) > 2 else [])


def support_matrix(claims: Sequence[str], sources: Sequence[str], embed: Embed | None = None) -> list[list[Support]]:
    """``[i][j]``: how well source j supports claim i. One embedding batch for everything."""
    if not claims:
        return []
    statements = [evidence(s) for s in sources]
    flat = [u for us in statements for u in us]
    vectors = np.asarray((embed or _default_embed)(list(claims) + flat), dtype=float)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    claim_vecs = vectors[: len(claims)]
    units, start = [], len(claims)
    for us in statements:
        units.append((_unit_vectors(vectors[start : start + len(us)]), _texts_of_units(us)) if us else None)
        start += len(us)
    source_words = [set(tokenize(" ".join(us))) for us in statements]
    source_numbers = [_numbers(" ".join(us)) for us in statements]
    out = []
    for i, claim in enumerate(claims):
        words, numbers = set(tokenize(claim)), _numbers(claim)
        negated, verdict = bool(_NEGATION.search(claim)), bool(_VERDICT.match(claim))
        row = []
        for j, unit in enumerate(units):
            if unit is None:  # nothing in the source can support anything
                row.append(Support(0.0, 0.0, verdict=verdict))
                continue
            sims = unit[0] @ claim_vecs[i]
            best = int(sims.argmax())
            row.append(
                Support(
                    cosine=float(sims[best]),
                    overlap=len(words & source_words[j]) / len(words) if words else 0.0,
                    numbers_ok=numbers <= source_numbers[j],
                    polarity_ok=not negated or bool(_NEGATION.search(unit[1][best])),
                    verdict=verdict,
                )
            )
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
    if not claims or not sources:
        return GuardResult("", dropped=[c.text for c in claims])
    matrix = support_matrix([c.text for c in claims], sources, embed)
    result = GuardResult("")
    kept_sentences: list[str] = []
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
        sentence = f"{body} {''.join(f'[{n}]' for n in markers)}{end}"
        if sentence not in kept_sentences:  # the small model sometimes repeats itself
            kept_sentences.append(sentence)
    result.kept = len(kept_sentences)
    result.text = " ".join(kept_sentences)
    return result


def guard_answer(
    question: str, generated: str, sources: Sequence[Hit], embed: Embed | None = None, shown: int | None = None
) -> Draft:
    """The checked answer as a ``Draft``, or the extractive answer when no generated sentence holds.

    ``shown``: only the first ``shown`` sources were given to the model, so only they can be cited;
    the extractive fallback still draws on all of them."""
    checkable = list(sources)[:shown] if shown is not None else list(sources)
    result = check(generated, [h.text for h in checkable], embed)
    if result.kept:
        notes = []
        if result.dropped:
            n = len(result.dropped)
            notes.append(
                f"{n} generated sentence{'s' if n > 1 else ''} not supported by the sources "
                f"{'were' if n > 1 else 'was'} left out."
            )
        return Draft(result.text, notes)
    draft = ExtractiveAnswerer().answer(question, sources)
    why = "was empty" if not generated.strip() else "had no sentence the sources support"
    draft.notes.append(f"The generated answer {why}; showing the extractive answer instead.")
    return draft
