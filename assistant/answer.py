"""The answer object: plain data in and out (``to_dict()`` is what the CLI and the API print).

    >>> a = Answer(question="q", standalone_question="q", answer="x [1]", refused=False,
    ...            citations=[Citation(marker=1, id="e/quotes/3", episode_id="e", section="quotes",
    ...                                index=3, text="x", line_start=10, line_end=12)])
    >>> a.to_dict()["citations"][0]["id"]
    'e/quotes/3'
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Citation:
    marker: int
    id: str
    episode_id: str
    section: str
    index: int
    text: str  # verbatim source text
    line_start: int
    line_end: int
    transcript_position: int | None = None
    score: float | None = None
    file: str | None = None
    relevance_score: float | None = None
    topic: str | None = None
    name: str | None = None
    alternates: list[str] = field(default_factory=list)


@dataclass
class Answer:
    question: str
    standalone_question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    answerer: str = "extractive"
    notes: list[str] = field(default_factory=list)  # e.g. "LLM unavailable: fell back to extractive"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Answer":
        data = dict(data)
        data["citations"] = [Citation(**c) for c in data.get("citations", [])]
        return cls(**data)
