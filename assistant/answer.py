"""The answer object: plain data in and out (``to_dict()`` is what the CLI and the API print).

Declared once, as pydantic dataclasses: the field descriptions below are also what the API's
OpenAPI page (``/docs``) shows.

    >>> a = Answer(question="q", standalone_question="q", answer="x [1]", refused=False,
    ...            citations=[Citation(marker=1, id="e/quotes/3", episode_id="e", section="quotes",
    ...                                index=3, text="x", line_start=10, line_end=12)])
    >>> a.to_dict()["citations"][0]["id"]
    'e/quotes/3'
"""

from __future__ import annotations

from dataclasses import asdict, field
from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass


@dataclass
class Citation:
    marker: Annotated[int, Field(description="the [n] in the answer text")]
    id: Annotated[str, Field(description="{episode_id}/{section}/{index}: the item's place in the episode file")]
    episode_id: str
    section: str
    index: int
    text: Annotated[str, Field(description="the cited source text, verbatim")]
    line_start: Annotated[int, Field(description="first line of the item in the episode file (1-based)")]
    line_end: int
    transcript_position: Annotated[
        int | None, Field(description="character offset into the transcript, when known")
    ] = None
    score: Annotated[float | None, Field(description="retrieval score")] = None
    file: str | None = None
    relevance_score: Annotated[float | None, Field(description="the episode file's own relevance rating (quotes)")] = (
        None
    )
    topic: str | None = None
    name: str | None = None
    alternates: Annotated[list[str], Field(description="near-duplicate items saying the same")] = field(
        default_factory=list
    )
    title: Annotated[str | None, Field(description="the episode's title")] = None
    kind: Annotated[str | None, Field(description="what the item is: speaker quote, entity mention, insight, ...")] = (
        None
    )
    location: Annotated[str | None, Field(description='where it is, for people: "quote 17 · lines 728–736"')] = None


@dataclass
class Answer:
    question: str
    standalone_question: Annotated[str, Field(description="the question as searched (follow-ups rewritten)")]
    answer: Annotated[str, Field(description="answer text with [n] markers, or the 'not covered' message")]
    refused: Annotated[bool, Field(description="true when the episodes do not cover the question")]
    citations: list[Citation] = field(default_factory=list)
    answerer: str = "extractive"
    # e.g. "LLM unavailable: fell back to extractive"
    notes: list[str] = field(default_factory=list)
    reason: Annotated[
        str | None, Field(description='why it was refused: "off_topic" or "not_stated" (null when answered)')
    ] = None
    suggestions: Annotated[list[str], Field(description="questions the episodes do answer, offered with a refusal")] = (
        field(default_factory=list)
    )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Answer:
        data = dict(data)
        data["citations"] = [Citation(**c) for c in data.get("citations", [])]
        return cls(**data)
