"""Answer checks, per question and answerer, and the figures they add up to.

Per answer: refused or not (and why), citations verbatim at their lines, answer points covered
(required ones too), words, *fragments* and *unsupported sentences*, seconds.

- A span is answer text that is verbatim in a source it cites: quoted text ("…"), or the whole text
  before a marker. A span is a fragment when every place it occurs in that source starts or ends
  mid-word ("…there was a 10X co [1]"); an entity's context window is itself a cut of the
  transcript, so a span reaching its first or last word is cut too.
- A sentence is unsupported when the citation guard (``support_matrix``) finds none of the sources
  it cites supporting it; a sentence that cites nothing is unsupported.

    >>> from assistant.answer import Answer, Citation
    >>> c = Citation(marker=1, id="e/companies/3", episode_id="e", section="companies", index=3,
    ...              text="there was a 10X compute increase", line_start=1, line_end=1)
    >>> spans_and_fragments(Answer("q", "q", "there was a 10X co [1]", False, [c]))
    (1, 1, 0)
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from statistics import median

import numpy as np
from tqdm import tqdm

from assistant.answer import Answer
from assistant.answerers.guard import support_matrix
from assistant.chain import EpisodeAssistant
from assistant.query import Query
from assistant.text import split_sentences, tokenize, window_edges

from .questions import Question

# An answer point counts as covered when this share of its content words is in the answer, or
# one answer sentence embeds this close to it.
POINT_LEXICAL = 0.5
POINT_COSINE = 0.6
MIN_SPAN_WORDS = 2  # shorter pieces ("co", "Yes") occur anywhere: no evidence of a cut

_MARKER_RUN = re.compile(r"((?:\s*\[\d+\])+)")
_QUOTED = re.compile(r"“([^”]+)”|\"([^\"]+)\"")
_ELLIPSIS = re.compile(r"\s*(?:…|\.\.\.)\s*")
_LABEL = re.compile(r"^[^:.!?]{1,60}:\s+")  # "Anthropic: <what the episode says about it>"
_EDGE = " \t\n,;:—–-\"'“”‘’()"


def _trim(text: str) -> str:
    """Without the quote marks, dashes and the previous sentence's full stop around it."""
    return text.strip(_EDGE).lstrip(".!?" + _EDGE)


# --- points ---------------------------------------------------------------------------------------
def point_covered(point: str, answer: str, answer_vectors, embed) -> bool:
    want = set(tokenize(point))
    if want and len(want & set(tokenize(answer))) / len(want) >= POINT_LEXICAL:
        return True
    if not answer_vectors:
        return False
    p = embed.embed_query(point)
    return max(sum(a * b for a, b in zip(p, v)) for v in answer_vectors) >= POINT_COSINE


def covered_points(points: Sequence[str], answer: Answer, embed) -> list[bool]:
    if answer.refused or not points:
        return [False] * len(points)
    vectors = None  # the answer's sentences are embedded only when a point is not covered word for word
    covered = []
    for p in points:
        hit = point_covered(p, answer.answer, [], embed)
        if not hit:
            if vectors is None:
                sentences = split_sentences(answer.answer)
                vectors = embed.embed_documents(sentences) if sentences else []
            hit = point_covered(p, answer.answer, vectors, embed)
        covered.append(hit)
    return covered


# --- spans and fragments --------------------------------------------------------------------------
def cited_segments(text: str) -> list[tuple[str, list[int]]]:
    """The answer text cut after each run of markers: each piece with the markers that close it
    (text after the last marker cites nothing).

    >>> cited_segments("“A b.” [1] C d [2][3]. Tail.")
    [('“A b.”', [1]), ('C d', [2, 3]), ('. Tail.', [])]
    """
    parts = _MARKER_RUN.split(text)
    out = [
        (body.strip(), [int(n) for n in re.findall(r"\d+", markers)]) for body, markers in zip(parts[::2], parts[1::2])
    ]
    if len(parts) % 2 and parts[-1].strip():
        out.append((parts[-1].strip(), []))
    return out


def _norm(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("**", "").replace("`", "")
    return re.sub(r"\s+", " ", text).strip().lower()


def _clean_cut(source: str, start: int, end: int) -> bool:
    starts_mid = start > 0 and source[start - 1].isalnum() and source[start].isalnum()
    ends_mid = end < len(source) and source[end].isalnum() and source[end - 1].isalnum()
    return not (starts_mid or ends_mid)


_CUT = "ª"  # a letter no answer contains: stands for the unknown text beyond a transcript window's edges


def locate(span: str, source: str, cut: tuple[bool, bool] = (False, False)) -> bool | None:
    """None when ``span`` is not verbatim in ``source``; else whether some occurrence is cut on
    word boundaries at both ends. A transcript window (an entity's context) was cut from the
    transcript at arbitrary characters: its first and last words count as cut where ``cut`` says
    that edge may be a cut word (``assistant.text.window_edges`` knows some edges are not).

    >>> locate("a 10x co", "there was a 10x compute jump"), locate("a 10x compute", "there was a 10x compute jump")
    (False, True)
    >>> window = "re on compute than"  # "(mo)re on compute than (they ...)"
    >>> locate("re on compute", window, (True, True)), locate("on compute", window, (True, True))
    (False, True)
    """
    source = f"{_CUT if cut[0] else ''}{source}{_CUT if cut[1] else ''}"
    for candidate in dict.fromkeys((span, span.rstrip(".,;:!?"))):
        starts = [m.start() for m in re.finditer(re.escape(candidate), source)] if candidate else []
        if starts:
            return any(_clean_cut(source, s, s + len(candidate)) for s in starts)
    return None


def _pieces(text: str) -> list[str]:
    parts = (_trim(_norm(p)) for p in _ELLIPSIS.split(text))
    return [p for p in parts if len(p.split()) >= MIN_SPAN_WORDS]


def _found(piece: str, cited: list[tuple[str, tuple[bool, bool]]]) -> bool | None:
    """None when ``piece`` is in no cited source; else whether it is cut cleanly in one of them."""
    found = [f for f in (locate(piece, text, cut) for text, cut in cited) if f is not None]
    return any(found) if found else None


def _cut_edges(c) -> tuple[bool, bool]:
    """Which edges of a cited source may be cut words: those of an entity's transcript window that
    ``window_edges`` does not know to be word boundaries; none of any other source."""
    if c.section != "companies" or c.transcript_position is None:
        return False, False
    head, tail = window_edges(c.text, c.name, c.transcript_position)
    return not head, not tail


def spans_and_fragments(answer: Answer) -> tuple[int, int, int]:
    """(spans, fragments, quoted pieces that are not verbatim in any source they cite)."""
    sources = {c.marker: (_norm(c.text), _cut_edges(c)) for c in answer.citations}
    spans = fragments = misquoted = 0
    for body, markers in cited_segments(answer.answer):
        cited = [sources[m] for m in markers if m in sources]
        if not cited:
            continue
        quoted = [a or b for a, b in _QUOTED.findall(body)]
        for text in quoted or [body]:
            found = [_found(p, cited) for p in _pieces(text)]
            if not quoted and all(f is None for f in found) and _LABEL.match(body):
                found = [_found(p, cited) for p in _pieces(_LABEL.sub("", body))]
            spans += sum(f is not None for f in found)
            fragments += sum(f is False for f in found)
            misquoted += sum(f is None for f in found) if quoted else 0
    return spans, fragments, misquoted


# --- support --------------------------------------------------------------------------------------
def cited_sentences(answer: Answer) -> list[tuple[str, list[int]]]:
    """Each sentence of the answer with the markers of the piece it is in."""
    out = []
    for body, markers in cited_segments(answer.answer):
        for sentence in split_sentences(_trim(body)):
            sentence = _trim(sentence)
            if tokenize(sentence):  # "Sure." carries no claim to check
                out.append((sentence, markers))
    return out


def unsupported_sentences(answer: Answer, embed: Callable[[list[str]], Sequence[Sequence[float]]]) -> tuple[int, int]:
    """(sentences, sentences no source they cite supports), as the citation guard judges support.
    A sentence verbatim in a source it cites is supported without asking the guard (its cosine with
    itself is 1): that keeps the check of extractive answers cheap."""
    claims = cited_sentences(answer)
    position = {c.marker: j for j, c in enumerate(answer.citations)}
    sources = [_norm(c.text) for c in answer.citations]

    def verbatim(sentence: str, markers: list[int]) -> bool:
        # with or without a lead-in label ("Showing the episode's own words: ...", "Anthropic: ...")
        texts = {_norm(t).rstrip(".!?") for t in (sentence, _trim(_LABEL.sub("", sentence)))}  # label, then “
        return any(m in position and t in sources[position[m]] for m in markers for t in texts)

    open_claims = [(sentence, markers) for sentence, markers in claims if not verbatim(sentence, markers)]
    if not open_claims:
        return len(claims), 0
    matrix = support_matrix([s for s, _ in open_claims], [c.text for c in answer.citations], embed)
    unsupported = sum(
        not any(m in position and row[position[m]].passes for m in markers)
        for (_, markers), row in zip(open_claims, matrix)
    )
    return len(claims), unsupported


# --- one answerer over the questions --------------------------------------------------------------
def words(text: str) -> int:
    return sum(any(ch.isalnum() for ch in w) for w in _MARKER_RUN.sub(" ", text).split())


def check_answers(
    questions: Iterable[Question],
    bot: EpisodeAssistant,
    answerer: str,
    scope: Callable[[Question], str | None],
    progress: bool = False,
) -> list[dict]:
    """One row per question: what ``answerer`` answered and how it checks out."""
    embed = bot.store.embeddings
    prepared = []  # the chain's own retrieval of each question: its signal, without a second search
    plain_prepare = bot.prepare

    def recording_prepare(query):
        prepared.append(plain_prepare(query))
        return prepared[-1]

    bot.prepare = recording_prepare
    rows = []
    try:
        for q in tqdm(list(questions), desc=f"answers: {answerer}", unit="q", disable=not progress, leave=False):
            started = time.perf_counter()
            a = bot.ask(Query(q.question, q.history, episode=scope(q), answerer=answerer))
            seconds = time.perf_counter() - started
            valid = [bot.verify(c) for c in a.citations]
            covered = covered_points(q.answer_points, a, embed) if q.answerable else []
            required = [hit for p, hit in zip(q.answer_points, covered) if p in q.required_points]
            spans, fragments, misquoted = spans_and_fragments(a) if not a.refused else (0, 0, 0)
            sentences, unsupported = unsupported_sentences(a, embed.embed_documents) if not a.refused else (0, 0)
            rows.append(
                {
                    "id": q.id,
                    "kind": q.kind,
                    "split": q.split,
                    "expected_refusal": q.refusal,
                    "question": q.question,
                    "standalone": a.standalone_question,
                    "refused": a.refused,
                    "reason": a.reason,
                    "signal": round(prepared[-1].result.top_dense, 4),
                    "answer": a.answer,
                    "citations": [c.id for c in a.citations],
                    "citations_valid": all(valid),
                    "citations_ok": sum(valid),
                    "points_covered": sum(covered),
                    "points": len(covered),
                    "required_covered": sum(required),
                    "required": len(required),
                    "words": words(a.answer),
                    "spans": spans,
                    "fragments": fragments,
                    "misquoted": misquoted,
                    "sentences": sentences,
                    "unsupported": unsupported,
                    "seconds": round(seconds, 3),
                    "notes": list(a.notes),
                }
            )
    finally:
        del bot.prepare  # back to the class's method
    return rows


# --- the figures ----------------------------------------------------------------------------------
def _rate(hit: int, total: int, empty: float | None) -> float | None:
    return round(hit / total, 4) if total else empty


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def refusal_figures(rows: list[dict]) -> dict:
    """Refusals of unanswerable and answerable questions, by the refusal each question expects and
    by the reason given ("off_topic" and "not_stated" both count as refusals)."""
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    by_expected = {}
    for expected in sorted({r.get("expected_refusal") or "unspecified" for r in unanswerable}):
        group = [r for r in unanswerable if (r.get("expected_refusal") or "unspecified") == expected]
        by_expected[expected] = {
            "questions": len(group),
            "refused": sum(r["refused"] for r in group),
            "reasons": dict(Counter(r.get("reason") or "none" for r in group if r["refused"])),
        }
    return {
        "unanswerable": len(unanswerable),
        "unanswerable_refused": sum(r["refused"] for r in unanswerable),
        "answerable": len(answerable),
        "answerable_refused": sum(r["refused"] for r in answerable),
        "by_expected": by_expected,
        "answerable_reasons": dict(Counter(r.get("reason") or "none" for r in answerable if r["refused"])),
    }


def answer_figures(rows: list[dict]) -> dict:
    """Everything the report says about one answerer on a set of questions."""
    answered = [r for r in rows if not r["refused"]]
    cites = sum(len(r["citations"]) for r in rows)
    seconds = [r["seconds"] for r in rows]
    return {
        "questions": len(rows),
        "refusal": refusal_figures(rows),
        "citations_valid": _rate(sum(r.get("citations_ok", len(r["citations"])) for r in rows), cites, 1.0),
        "answer_points": _rate(sum(r["points_covered"] for r in rows), sum(r["points"] for r in rows), 0.0),
        "required_points": _rate(
            sum(r.get("required_covered", 0) for r in rows), sum(r.get("required", 0) for r in rows), None
        ),
        "words_median": _pct([r["words"] for r in answered], 50),
        "words_p90": _pct([r["words"] for r in answered], 90),
        "spans": sum(r.get("spans", 0) for r in answered),
        "fragment_rate": _rate(
            sum(r.get("fragments", 0) for r in answered), sum(r.get("spans", 0) for r in answered), 0.0
        ),
        "misquoted": sum(r.get("misquoted", 0) for r in answered),
        "sentences": sum(r.get("sentences", 0) for r in answered),
        "unsupported_rate": _rate(
            sum(r.get("unsupported", 0) for r in answered), sum(r.get("sentences", 0) for r in answered), 0.0
        ),
        "seconds_median": round(median(seconds), 3) if seconds else None,
        "seconds_p90": _pct(seconds, 90),
    }
