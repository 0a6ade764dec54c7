"""The answerer interface: one method to implement, optional capabilities with safe defaults.

>>> class Echo(Answerer):
...     name = "echo"
...     def answer(self, question, sources):
...         return Draft(f"{sources[0].text} [1]")
>>> from assistant.retriever import Hit
>>> Echo().answer("q", [Hit("e/quotes/1", "RL works.", {})]).text
'RL works. [1]'
>>> Echo.streams_tokens, Echo().rewrite("why?", [])
(False, None)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the CLI lists answerer names without loading retrieval
    from ..retriever import Hit


@dataclass
class Draft:
    """Answer text whose ``[n]`` markers point at ``sources[n-1]`` as given to the answerer."""

    text: str
    notes: list[str] = field(default_factory=list)


class Answerer(ABC):
    name = "base"
    # True when ``stream`` yields text as it is produced (worth showing live); False when the
    # whole answer arrives at once
    streams_tokens = False

    @abstractmethod
    def answer(self, question: str, sources: Sequence[Hit]) -> Draft:
        """Compose the answer from ``sources`` only (numbered from 1)."""

    def stream(self, question: str, sources: Sequence[Hit]) -> Iterator[str | Draft]:
        """The answer's sentences, each final once yielded (checked, markers into ``sources``; the
        chain shows them as they come and never takes one back), then the ``Draft`` they make up
        (its text is their concatenation, with spaces; it carries the notes). The default yields the
        finished answer as one piece, then its Draft."""
        draft = self.answer(question, sources)
        if draft.text:
            yield draft.text
        yield draft

    def rewrite(self, question: str, history: Sequence[Mapping]) -> str | None:
        """A standalone version of a follow-up question, or None to let the chain's rule decide."""
        return None
