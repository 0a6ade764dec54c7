"""The answerer interface: one method to implement."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from ..retriever import Hit


@dataclass
class Draft:
    """Answer text whose ``[n]`` markers point at ``sources[n-1]`` as given to the answerer."""

    text: str
    notes: list[str] = field(default_factory=list)


class Answerer(ABC):
    name = "base"

    @abstractmethod
    def answer(self, question: str, sources: Sequence[Hit]) -> Draft:
        """Compose the answer from ``sources`` only (numbered from 1)."""

    def stream(self, question: str, sources: Sequence[Hit]) -> Iterator[str]:
        """Text pieces as they are produced; the default yields the whole answer at once.
        The chain still builds the final answer from ``answer()``'s result, not from the pieces."""
        yield self.answer(question, sources).text
