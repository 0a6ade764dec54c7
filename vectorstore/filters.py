"""Which chunks a search or a read may see: episode, sections, minimum relevance.

The filter is plain data; only the store turns it into Chroma's ``where`` syntax, and BM25 (which
scores in memory) asks ``matches`` of each candidate.

    >>> SearchFilter(episode="e", sections=("quotes",)).matches({"episode_id": "e", "section": "quotes"})
    True
    >>> SearchFilter(episode="e").matches({"episode_id": "other", "section": "quotes"})
    False
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchFilter:
    """Metadata filters; ``min_relevance`` applies to quotes (other items have no score)."""

    episode: str | None = None
    sections: tuple[str, ...] | None = None
    min_relevance: float | None = None

    def where(self) -> dict | None:
        """The filter in Chroma's ``where`` syntax (None: everything)."""
        clauses: list[dict] = []
        if self.episode:
            clauses.append({"episode_id": self.episode})
        if self.sections:
            clauses.append({"section": {"$in": list(self.sections)}})
        if self.min_relevance is not None:
            clauses.append({"$or": [{"section": {"$ne": "quotes"}}, {"relevance_score": {"$gte": self.min_relevance}}]})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, md: dict) -> bool:
        if self.episode and md.get("episode_id") != self.episode:
            return False
        if self.sections and md.get("section") not in self.sections:
            return False
        if self.min_relevance is not None and md.get("section") == "quotes":
            return md.get("relevance_score", float("-inf")) >= self.min_relevance
        return True
