"""The question-answering chain: rewrite -> retrieve -> refuse or answer -> cite.

    >>> from vectorstore.config import load_settings
    >>> bot = EpisodeAssistant(load_settings())                                   # doctest: +SKIP
    >>> a = bot.ask("What has changed in the past year with RL and language models?")  # doctest: +SKIP
    >>> a.refused, a.citations[0].id                                              # doctest: +SKIP
    (False, 'e8dde77376fc3016/quotes/5')

``as_runnable()`` exposes the same pipeline as a LangChain ``Runnable`` taking
``{"question", "history", "episode", "answerer"}``; ``stream()`` yields text events and ends
with the final answer object.
"""
from __future__ import annotations

import re
from typing import Iterator, Mapping, Sequence

from langchain_core.runnables import Runnable, RunnableLambda

from vectorstore.store import EpisodeStore

from . import followup, refusal
from .answer import Answer, Citation
from .answerers import Answerer, get_answerer
from .retriever import Hit, HybridRetriever, SearchFilter, SearchResult

_MARKER = re.compile(r"\[(\d+)\]")
MAX_HISTORY_TURNS = 10


class QuestionError(ValueError):
    """The question itself is unusable (empty, too long); ``status`` is the HTTP status to use."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def cite(text: str, sources: Sequence[Hit]) -> tuple[str, list[Citation]]:
    """Renumber ``[n]`` markers (indices into ``sources``) in order of first use and build their
    citations; markers that point at no source are dropped."""
    order: dict[int, int] = {}

    def renumber(m: re.Match) -> str:
        n = int(m.group(1))
        if not 1 <= n <= len(sources):
            return ""
        order.setdefault(n, len(order) + 1)
        return f"[{order[n]}]"

    text = _MARKER.sub(renumber, text)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    citations = [citation(sources[n - 1], marker) for n, marker in sorted(order.items(), key=lambda kv: kv[1])]
    return text, citations


def citation(hit: Hit, marker: int) -> Citation:
    md = hit.metadata
    return Citation(
        marker=marker, id=hit.id, episode_id=md.get("episode_id", ""), section=md.get("section", ""),
        index=int(md.get("index", 0)), text=hit.text, line_start=int(md.get("line_start", 0)),
        line_end=int(md.get("line_end", 0)), transcript_position=md.get("transcript_position"),
        score=round(hit.score, 6), file=md.get("file"), relevance_score=md.get("relevance_score"),
        topic=md.get("topic"), name=md.get("name"), alternates=list(hit.alternates))


class EpisodeAssistant:
    """Everything needed to answer: the store, the retriever, the answerers (built on first use)."""

    def __init__(self, settings, store: EpisodeStore | None = None, retriever: HybridRetriever | None = None):
        self.settings = settings
        self.store = store or EpisodeStore(settings)
        self.retriever = retriever or HybridRetriever.from_settings(self.store, settings)
        self._answerers: dict[str, Answerer] = {}

    def warm_up(self) -> None:
        """Load the embedding model and build the BM25 index now, so the first question is as
        fast as the rest (serve calls this before it accepts requests)."""
        if self.store.count():
            self.retriever.search("warm up")

    # --- steps ---------------------------------------------------------------------------------
    def answerer(self, name: str | None = None) -> Answerer:
        name = name or self.settings.answerer
        if name not in self._answerers:
            self._answerers[name] = get_answerer(name, self.settings)
        return self._answerers[name]

    def check_question(self, question: str) -> str:
        question = (question or "").strip()
        if not question:
            raise QuestionError("the question is empty")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(f"the question is {len(question):,} characters long; the limit is {limit:,}", 413)
        return question

    def check_history(self, history: Sequence[Mapping] | None) -> list[dict]:
        """Only the last turns matter for a follow-up; a huge history is a bad request, not work."""
        turns = [dict(t) for t in (history or []) if isinstance(t, Mapping)]
        size = sum(len(str(t.get("user", ""))) + len(str(t.get("assistant", ""))) for t in turns)
        limit = self.settings.max_question_chars * MAX_HISTORY_TURNS * 4
        if size > limit:
            raise QuestionError(f"the conversation history is {size:,} characters long; the limit is {limit:,}", 413)
        return turns[-MAX_HISTORY_TURNS:]

    def standalone(self, question: str, history: Sequence[Mapping] | None, answerer: Answerer) -> str:
        rewrite = getattr(answerer, "rewrite", None)
        if history and rewrite is not None and followup.is_followup(question, history):
            return rewrite(question, history) or followup.rewrite(question, history)
        return followup.rewrite(question, history)

    def retrieve(self, standalone: str, episode: str | None = None,
                 sections: Sequence[str] | None = None) -> tuple[SearchResult, SearchFilter]:
        flt = SearchFilter(episode=episode or None, sections=tuple(sections) if sections else None)
        return self.retriever.search(standalone, flt=flt), flt

    def refusal_answer(self, question: str, standalone: str, flt: SearchFilter, name: str) -> Answer:
        topics = refusal.closest_topics(self.retriever, standalone, flt)
        titles = sorted({m.get("title", "") for m in self.store.episodes()
                         if not flt.episode or m["episode_id"] == flt.episode})
        return Answer(question, standalone, refusal.refusal_message(topics, titles), True, [], name)

    # --- the pipeline ----------------------------------------------------------------------------
    def _prepare(self, question, history, episode, answerer, sections):
        question = self.check_question(question)
        history = self.check_history(history)
        impl = self.answerer(answerer)
        standalone = self.standalone(question, history, impl)
        result, flt = self.retrieve(standalone, episode, sections)
        decision = refusal.decide(result, self.settings.refusal_threshold)
        return question, impl, standalone, result, flt, decision

    def _finish(self, question, standalone, impl: Answerer, sources: list[Hit], draft) -> Answer:
        text, citations = cite(draft.text, sources)
        return Answer(question, standalone, text, False, citations, impl.name, list(draft.notes))

    def ask(self, question: str, history: Sequence[Mapping] | None = None, episode: str | None = None,
            answerer: str | None = None, sections: Sequence[str] | None = None) -> Answer:
        question, impl, standalone, result, flt, decision = self._prepare(question, history, episode, answerer, sections)
        if decision.refused:
            return self.refusal_answer(question, standalone, flt, impl.name)
        return self._finish(question, standalone, impl, result.hits, impl.answer(standalone, result.hits))

    def stream(self, question: str, history: Sequence[Mapping] | None = None, episode: str | None = None,
               answerer: str | None = None, sections: Sequence[str] | None = None) -> Iterator[dict]:
        """Events: ``{"type": "token", "text": ...}`` as the answer is produced, then
        ``{"type": "answer", "answer": Answer}`` with the final, checked answer."""
        question, impl, standalone, result, flt, decision = self._prepare(question, history, episode, answerer, sections)
        if decision.refused:
            answer = self.refusal_answer(question, standalone, flt, impl.name)
            yield {"type": "token", "text": answer.answer}
            yield {"type": "answer", "answer": answer}
            return
        final = None
        for piece in impl.stream(standalone, result.hits):
            if isinstance(piece, str):
                yield {"type": "token", "text": piece}
            else:  # an answerer may end its stream with the Draft it settled on
                final = piece
        draft = final if final is not None else impl.answer(standalone, result.hits)
        yield {"type": "answer", "answer": self._finish(question, standalone, impl, result.hits, draft)}

    def as_runnable(self) -> Runnable:
        """The pipeline as LCEL: ``{"question", "history"?, "episode"?, "answerer"?}`` -> ``Answer``."""
        def _ask(inputs: dict) -> Answer:
            return self.ask(inputs["question"], inputs.get("history"), inputs.get("episode"),
                            inputs.get("answerer"), inputs.get("sections"))
        return RunnableLambda(_ask, name="episode_assistant")
