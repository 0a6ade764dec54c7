"""One question and everything that shapes its answer, as one immutable value.

The chain, the answer service, the JSON API, the chat and the CLI all pass a ``Query``, so a new
request option (several episodes, a language) is a change to this class and to the code that uses
it, not to every signature in between.

    >>> q = Query("by when?", history=[{"user": "What do they predict about agents?", "assistant": "..."}])
    >>> q.history[0]["user"], q.episode
    ('What do they predict about agents?', None)
    >>> q.replace(episode="e8dde77376fc3016").episode
    'e8dde77376fc3016'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Query:
    question: str
    history: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)  # earlier {user, assistant} turns
    episode: str | None = None  # only this episode id
    answerer: str | None = None  # None: the answerer setting
    sections: tuple[str, ...] | None = None  # only these sections

    def __post_init__(self) -> None:
        # lists are accepted for convenience and frozen here; empty filters mean "no filter"
        object.__setattr__(self, "history", tuple(self.history or ()))
        object.__setattr__(self, "sections", tuple(self.sections) if self.sections else None)
        object.__setattr__(self, "episode", self.episode or None)
        object.__setattr__(self, "answerer", self.answerer or None)

    def replace(self, **changes: Any) -> Query:
        return replace(self, **changes)

    @classmethod
    def of(cls, query: Query | str, **options: Any) -> Query:
        """``query`` itself, or a Query built from a question string and keyword options."""
        if isinstance(query, Query):
            return query.replace(**options) if options else query
        return cls(query, **options)


def as_turns(history: Sequence[Mapping] | None) -> list[dict]:
    """History items as plain dicts (pydantic models and mappings alike)."""
    out = []
    for t in history or ():
        if hasattr(t, "model_dump"):
            t = t.model_dump()
        if isinstance(t, Mapping):
            out.append(dict(t))
    return out
