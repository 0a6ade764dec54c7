"""Example questions for the chat, built from what is indexed.

Each indexed episode offers questions from its own analysis: the bold lead phrases of its summary
bullets ("**Software Engineering Agents Maturing:** …" -> "What do they say about software
engineering agents maturing?") and its listed topics. The bundled episode has hand-written
questions (checked against it by the eval), shown only while it is indexed. Episodes take turns,
so a portal with several shows questions about several.

    >>> summary_phrases("### 2. Key Insights\\n*   **RL Success in Verifiable Domains:** The biggest …")
    ['RL Success in Verifiable Domains']
    >>> about("RL Success in Verifiable Domains")
    'What do they say about RL success in verifiable domains?'
"""

from __future__ import annotations

import logging
import re
import threading
from itertools import chain, zip_longest

from vectorstore.filters import SearchFilter

log = logging.getLogger(__name__)

MAX_EXAMPLES = 5
# episodes whose examples are looked up (newest first); more would only slow a page load
MAX_EPISODES = MAX_EXAMPLES
FALLBACK = ["What are the episodes about?"]
# The bundled episode ("Is RL + LLMs enough for AGI?"): questions its answers are known to cover.
CURATED = {
    "e8dde77376fc3016": (
        "What has changed in the past year with RL and language models?",
        "What do they predict about software engineering agents?",
        "Why is software engineering improving faster than other domains?",
        "What do they say about sample efficiency?",
    ),
}

_LEAD_PHRASE = re.compile(r"^\s*[*+-]\s+\*\*([^*]{3,80}?):?\*\*", re.M)
_TOPICS_LINE = re.compile(r"^Topics:\s*(.+)$", re.M)


def summary_phrases(summary: str) -> list[str]:
    """The bold lead phrases of a summary's bullet points."""
    return [m.group(1).strip().rstrip(":").strip() for m in _LEAD_PHRASE.finditer(summary)]


def _lower_first(phrase: str) -> str:
    """'Software Engineering Agents' -> 'software engineering agents'; acronyms (RL, GPT-4) stay."""
    return " ".join(w if sum(ch.isupper() for ch in w) > 1 or not w.isalpha() else w.lower() for w in phrase.split())


def about(phrase: str) -> str:
    return f"What do they say about {_lower_first(phrase)}?"


def episode_questions(store, episode_id: str) -> list[str]:
    """Questions one episode answers: its curated ones first, then from its summary and topics."""
    chunks = store.chunks(SearchFilter(episode=episode_id, sections=("summary", "overview")))
    summary = [c for c in chunks if c.metadata.get("section") == "summary"]
    overview = [c for c in chunks if c.metadata.get("section") == "overview"]
    phrases = [p for c in sorted(summary, key=lambda c: c.metadata.get("index", 0)) for p in summary_phrases(c.text)]
    topics = [t.strip() for c in overview for m in _TOPICS_LINE.finditer(c.text) for t in m.group(1).split(",")]
    out: list[str] = list(CURATED.get(episode_id, ()))
    for q in map(about, chain(phrases, topics)):
        if q.lower() not in {o.lower() for o in out}:
            out.append(q)
    return out


class ExampleQuestions:
    """``current()``: up to ``limit`` questions, taking turns across the newest episodes; rebuilt
    only when the set of indexed episodes (or their content) changed."""

    def __init__(self, store, limit: int = MAX_EXAMPLES):
        self.store = store
        self.limit = limit
        self._key: tuple | None = None
        self._questions: list[str] = FALLBACK
        self._lock = threading.Lock()

    def current(self) -> list[str]:
        try:
            metas = self.store.episodes()
        except Exception:  # the chat still loads; questions will report the store problem
            log.exception("cannot list episodes for the example questions")
            return self._questions
        key = tuple((m.get("episode_id"), m.get("content_hash")) for m in metas)
        with self._lock:
            if key != self._key:
                self._questions = self._build(metas)
                self._key = key
            return self._questions

    def _build(self, metas: list[dict]) -> list[str]:
        newest = sorted(metas, key=lambda m: str(m.get("date") or ""), reverse=True)[:MAX_EPISODES]
        # the curated episode first: its questions are the ones known to work
        newest.sort(key=lambda m: m.get("episode_id") not in CURATED)
        try:
            per_episode = [episode_questions(self.store, m["episode_id"]) for m in newest]
        except Exception:
            log.exception("cannot read episodes for the example questions")
            return FALLBACK
        taken: list[str] = []
        for row in zip_longest(*per_episode):
            taken.extend(q for q in row if q and q not in taken)
        return taken[: self.limit] or FALLBACK
