"""Refusal is decided from retrieval, before any answer is composed or any model is asked.

The signal is the best dense cosine similarity between the question and any chunk in scope
(all-MiniLM-L6-v2, normalised). A question is refused when it falls below ``refusal_threshold``.

Calibration (2026-11-26, eval/questions.yaml on the bundled episode; re-run with
`episode-assistant eval --calibrate`): the lowest-scoring answerable question sits at 0.349
("Which companies and people does the recap single out?"); below it, the unanswerable ones at
0.145-0.323 (recipes, sports, weather, Bitcoin, "What do they say about climate policy?" 0.308).
The threshold 0.335 is the midpoint of that gap, so no answerable question is refused. Near-domain
unanswerable questions (a GPT-5 parameter count 0.56, the host's name 0.49, the EU AI Act 0.44)
score like answerable ones and are not caught by this signal; no second signal we tried (lexical
coverage of the question by the episode's vocabulary) separated them without refusing answerable
questions.
"""

from __future__ import annotations

from dataclasses import dataclass

from vectorstore.filters import SearchFilter

from .retriever import HybridRetriever, SearchResult


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
