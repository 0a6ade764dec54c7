"""The assistant behind one concurrency limit shared by the JSON API and the chat UI.

Answering is blocking work (embedding, Chroma, maybe an LLM), so callers run these methods in
worker threads; the semaphore bounds how many answers are produced at once whichever door the
question came through. A caller that cannot get a slot within ``wait`` seconds gets ``Busy``
instead of queueing without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from assistant.answer import Answer
from assistant.chain import EpisodeAssistant
from assistant.query import Query


class Busy(RuntimeError):
    """Every answer slot stayed taken for ``wait`` seconds (HTTP 503)."""


class AnswerService:
    def __init__(self, assistant: EpisodeAssistant, limit: int, wait: float = 30.0):
        self.assistant = assistant
        self.limit = max(1, int(limit))
        self.wait = wait
        self._slots = threading.BoundedSemaphore(self.limit)

    @property
    def store(self):
        return self.assistant.store

    @contextmanager
    def slot(self):
        if not self._slots.acquire(timeout=self.wait):
            raise Busy(f"all {self.limit} answer slots are busy; try again in a moment")
        try:
            yield
        finally:
            self._slots.release()

    def check(self, question: str) -> str:
        """Raises ``QuestionError`` (with its HTTP status) for an empty or over-long question."""
        return self.assistant.check_question(question)

    def ask(self, query: Query) -> Answer:
        with self.slot():
            return self.assistant.ask(query)

    def stream(self, query: Query) -> Iterator[dict]:
        """The chain's events; the slot is held until the generator finishes or is closed."""
        with self.slot():
            yield from self.assistant.stream(query)

    def health(self) -> dict:
        """Raises whatever the store raises when it cannot be reached."""
        return {"episodes": len(self.store.episodes()), "chunks": self.store.count()}
