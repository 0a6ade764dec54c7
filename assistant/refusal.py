"""Refusal is decided from retrieval, before any answer is composed or any model is asked.

The signal is the best dense cosine similarity between the question and any chunk in scope
(all-MiniLM-L6-v2, normalised). A question is refused when it falls below ``refusal_threshold``.

Calibration (eval/questions.yaml, bundled episode; re-run with `episode-assistant eval
--calibrate`): the threshold is the midpoint of the widest gap between the best-scoring
unanswerable question and the worst-scoring answerable one, nudged to keep every answerable
question answered. See ``DEFAULT_THRESHOLD_NOTE`` and the README's "Refusal" section.
"""
from __future__ import annotations

from dataclasses import dataclass

from .retriever import HybridRetriever, SearchFilter, SearchResult


@dataclass
class RefusalDecision:
    refused: bool
    signal: float
    threshold: float


def decide(result: SearchResult, threshold: float) -> RefusalDecision:
    return RefusalDecision(result.top_dense < threshold or not result.hits, result.top_dense, threshold)


def closest_topics(retriever: HybridRetriever, question: str, flt: SearchFilter, n: int = 3) -> list[str]:
    """Headings of the summary sections nearest to the question (what the episode does cover)."""
    scoped = SearchFilter(episode=flt.episode, sections=("summary",))
    hits = retriever.search(question, k=n + 1, flt=scoped).hits
    topics = []
    for h in hits:
        heading = h.metadata.get("topic", "")
        # section 0 is the title block ("Podcast Summary: ..."), not a topic
        if heading and not heading.lower().startswith("podcast summary") and heading not in topics:
            topics.append(heading.split(". ", 1)[-1] if heading[:1].isdigit() else heading)
    return topics[:n]


def refusal_message(topics: list[str], titles: list[str]) -> str:
    where = f"“{titles[0]}”" if len(titles) == 1 else "the indexed episodes"
    msg = f"Not covered: {where} doesn't discuss this, so I can't answer it from the episode."
    if topics:
        msg += " The closest topics it does cover: " + "; ".join(topics) + "."
    return msg
