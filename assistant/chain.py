"""The question-answering chain: rewrite -> retrieve -> refuse or answer -> cite.

    >>> from vectorstore.config import load_settings
    >>> bot = EpisodeAssistant(load_settings())                                   # doctest: +SKIP
    >>> a = bot.ask("What has changed in the past year with RL and language models?")  # doctest: +SKIP
    >>> a.refused, a.citations[0].id                                              # doctest: +SKIP
    (False, 'e8dde77376fc3016/quotes/5')

A request is a ``Query`` (``ask("question")`` is short for ``ask(Query("question"))``; keyword
options become its fields). ``as_runnable()`` exposes the same pipeline as a LangChain
``Runnable`` taking a ``Query`` or a dict of its fields; ``stream()`` yields progress and checked
sentences as events and ends with the final answer object (``ask`` is its last event).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from vectorstore.chunks import SECTION_BY_NAME
from vectorstore.filters import SearchFilter
from vectorstore.store import EpisodeStore
from vectorstore.verify import citation_is_valid

from . import followup, overview, refusal, spelling
from .answer import Answer, Citation
from .answerers import Answerer, get_answerer
from .errors import QuestionError
from .query import Query
from .retriever import Hit, HybridRetriever, SearchResult

_MARKER = re.compile(r"\[(\d+)\]")
MAX_HISTORY_TURNS = 10


class Citer:
    """Renumbers ``[n]`` markers (n: 1-based index into ``sources``) in order of first use, across
    all the pieces of one answer: a sentence shown first keeps its numbers when later ones come.
    Markers that point at no source are dropped.

    >>> citer = Citer([Hit(f"e/quotes/{i}", "", {}) for i in range(3)])
    >>> citer("First [3]."), citer("Second [1] [9]. Third [3]."), [c.id for c in citer.citations()]
    ('First [1].', 'Second [2]. Third [1].', ['e/quotes/2', 'e/quotes/0'])
    """

    def __init__(self, sources: Sequence[Hit], files_root: str | None = None):
        self.sources = sources
        self.files_root = files_root
        self.order: dict[int, int] = {}

    def _renumber(self, m: re.Match) -> str:
        n = int(m.group(1))
        if not 1 <= n <= len(self.sources):
            return ""
        self.order.setdefault(n, len(self.order) + 1)
        return f"[{self.order[n]}]"

    def __call__(self, text: str) -> str:
        text = _MARKER.sub(self._renumber, text)
        return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()

    def citations(self) -> list[Citation]:
        numbered = sorted(self.order.items(), key=lambda kv: kv[1])
        return [citation(self.sources[n - 1], marker, self.files_root) for n, marker in numbered]


def cite(text: str, sources: Sequence[Hit], files_root: str | None = None) -> tuple[str, list[Citation]]:
    """``text`` with its markers renumbered in order of first use, and their citations."""
    citer = Citer(sources, files_root)
    text = citer(text)
    return text, citer.citations()


def shown_file(file: str | None, files_root: str | None) -> str | None:
    """The episode file as clients see it: relative to the episodes folder when it lies inside, else
    its name. The server's absolute paths stay on the server (the store keeps them).

    >>> shown_file("/srv/episodes/2026/ep.txt", "/srv/episodes"), shown_file("/elsewhere/ep.txt", "/srv/episodes")
    ('2026/ep.txt', 'ep.txt')
    """
    if not file:
        return file
    path = PurePath(file)
    if files_root:
        try:
            return path.relative_to(Path(files_root).resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def citation(hit: Hit, marker: int, files_root: str | None = None) -> Citation:
    md = hit.metadata
    section = SECTION_BY_NAME.get(md.get("section", ""))
    line_start, line_end = int(md.get("line_start", 0)), int(md.get("line_end", 0))
    return Citation(
        marker=marker,
        id=hit.id,
        episode_id=md.get("episode_id", ""),
        section=md.get("section", ""),
        index=int(md.get("index", 0)),
        text=hit.text,
        line_start=line_start,
        line_end=line_end,
        transcript_position=md.get("transcript_position"),
        score=round(hit.score, 6),
        file=shown_file(md.get("file"), files_root),
        relevance_score=md.get("relevance_score"),
        topic=md.get("topic"),
        name=md.get("name"),
        alternates=list(hit.alternates),
        title=md.get("title"),
        kind=section.kind if section else None,
        location=section.location(int(md.get("index", 0)), line_start, line_end) if section else None,
    )


@dataclass
class Prepared:
    """A query after the steps that come before any answer text: checked, rewritten, retrieved,
    and the refusal decided."""

    query: Query
    question: str
    answerer: Answerer
    standalone: str
    result: SearchResult
    filter: SearchFilter
    decision: refusal.RefusalDecision


class EpisodeAssistant:
    """Everything needed to answer: the store, the retriever, the answerers (built on first use)."""

    def __init__(self, settings, store: EpisodeStore | None = None, retriever: HybridRetriever | None = None):
        self.settings = settings
        self.store = store or EpisodeStore(settings)
        self.retriever = retriever or HybridRetriever.from_settings(self.store, settings)
        self._answerers: dict[str, Answerer] = {}

    def verify(self, citation: Citation) -> bool:
        """Is the cited text verbatim at its line range in the episode file? (The file is found
        through the store: citations show clients only a relative path.)"""
        meta = self.store.episode(citation.episode_id)
        return bool(meta) and citation_is_valid(
            meta["file"], citation.section, citation.text, citation.line_start, citation.line_end
        )

    def warm_up(self) -> None:
        """Load the embedding model, build the BM25 index and the episodes' lexicon, and load the
        spelling dictionary now, so the first question is as fast as the rest (serve calls this before
        it accepts requests)."""
        if self.store.count():
            self.retriever.search("warm up")
            refusal.lexicon(self.retriever)
            spelling.english()

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
        if not any(ch.isalnum() for ch in question):
            raise QuestionError("the question has no words, only punctuation or symbols: ask it in words")
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

    def check_episode(self, episode: str | None) -> None:
        """An episode filter must name an indexed episode: a typo is an error (404), not a refusal."""
        if episode and episode not in refusal.known_episodes(self.retriever):
            raise QuestionError(f"unknown episode id {episode!r}: no episode with that id is indexed", 404)

    def standalone(
        self, question: str, history: Sequence[Mapping] | None, answerer: Answerer, names: Container[str] = ()
    ) -> str:
        if history and followup.is_followup(question, history):
            written = answerer.rewrite(question, history)  # a model's rewrite; searched beside the typed words too
            if written:
                earlier, subject = followup.shown_before(question, history), followup.subject_of(history)
                return followup.Standalone(written, question, earlier, subject or "")
        return followup.rewrite(question, history, names)

    def retrieve(self, standalone: str, query: Query) -> tuple[SearchResult, SearchFilter]:
        flt = SearchFilter(episode=query.episode, sections=query.sections)
        return self.retriever.search(standalone, flt=flt), flt

    def overview_sources(self, question: str, flt: SearchFilter) -> list[Hit]:
        """The episode's summary, in order, when the question asks about the episode as a whole
        (``assistant.overview``) and names one: the filtered episode, or the only one indexed ("this
        episode" among many is any of them: that question is searched as usual). Empty for any other
        question, a search limited to other sections, or no summary. A follow-up that leans on the
        earlier question is never one (the chain does not ask)."""
        lexical = overview.intent(question)
        if lexical is None and not overview.asks_who(question):
            return []
        if flt.sections is not None and overview.SECTION not in flt.sections:
            return []
        indexed = refusal.known_episodes(self.retriever)
        episode = flt.episode or (next(iter(indexed)) if len(indexed) == 1 else None)
        found = overview.sources(self.store, episode) if episode else []
        if lexical is None and overview.intent(question, overview.opening(found)) is None:
            return []  # "who ...?" about someone the summary's opening does not introduce
        return found

    def refusal_answer(self, prepared: Prepared) -> Answer:
        """The refusal: off topic (which episode, nothing cited) or not stated (what is missing,
        then the closest the episode says, cited); both with questions the episode does answer."""
        flt, decision = prepared.filter, prepared.decision
        s = self.settings
        near = prepared.standalone if decision.reason == refusal.NOT_STATED else None
        offered = refusal.suggestions(self.retriever, near, flt, s.refusal_threshold, s.refusal_suggestions)
        if decision.reason == refusal.NOT_STATED:
            # the closest passages, quoted verbatim (never generated: a model would fill the gap)
            draft = self.answerer("extractive").answer(prepared.standalone, prepared.result.hits)
            closest, citations = cite(draft.text, prepared.result.hits, self.settings.episodes_dir)
            text = refusal.not_stated_message(decision, closest)
        else:
            titles = sorted(
                {m.get("title", "") for m in self.store.episodes() if not flt.episode or m["episode_id"] == flt.episode}
            )
            topics = [q.removeprefix("What do they say about ").rstrip("?") for q in offered]
            text = refusal.greeting_message(prepared.question, titles) or refusal.refusal_message(topics, titles)
            citations = []
        return Answer(
            prepared.question,
            prepared.standalone,
            text,
            True,
            citations,
            prepared.answerer.name,
            reason=decision.reason or refusal.OFF_TOPIC,
            suggestions=offered,
        )

    # --- the pipeline ----------------------------------------------------------------------------
    def prepare(self, query: Query) -> Prepared:
        question = self.check_question(query.question)
        history = self.check_history(query.history)
        impl = self.answerer(query.answerer)
        self.check_episode(query.episode)
        s = self.settings
        lex = refusal.lexicon(self.retriever, query.episode)
        standalone = self.standalone(question, history, impl, lex.all_names)
        # a follow-up leaning on the earlier question is no question about the whole episode; one
        # asked of another name ("and sholto?" -> "who is sholto?") may be
        rewritten = followup.leans_on_earlier(standalone)
        # "aligment" is searched and answered as "alignment"; "sholto" searched as "Shulta" too
        standalone, searched = spelling.for_search(standalone, lex)
        result, flt = self.retrieve(searched, query)
        summary = [] if rewritten else self.overview_sources(str(standalone), flt)
        if summary:  # a question about the whole episode: its summary answers it, never a refusal
            result = result.with_first(summary)
            decision = refusal.RefusalDecision(False, result.top_dense, s.refusal_threshold)
        else:
            lex = lex if s.refusal_not_stated else None
            passages = refusal.Passages(self.retriever.bm25_index(), flt, lex) if lex is not None else None
            decision = refusal.decide(result, s.refusal_threshold, standalone, lex, s.refusal_sources, passages)
            if decision.evidence is not None:  # "vocab size?": the source stating the figure comes first
                result = result.with_first([decision.evidence])
        return Prepared(query, question, impl, standalone, result, flt, decision)

    def _finish(self, prepared: Prepared, text: str, citer: Citer, notes: Sequence[str]) -> Answer:
        return Answer(
            prepared.question, prepared.standalone, text, False, citer.citations(), prepared.answerer.name, list(notes)
        )

    def ask(self, query: Query | str, **options: Any) -> Answer:
        """The checked, cited answer (or a refusal) to ``query``: the last event of ``stream``."""
        for event in self.stream(query, **options):
            if event["type"] == "answer":
                return event["answer"]
        raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover - stream always answers

    def stream(self, query: Query | str, **options: Any) -> Iterator[dict]:
        """The answer as events (the stream contract that the API, the chat and the CLI rely on):

        ``{"type": "status", "stage": "searching"}``, then ``{"type": "status", "stage": "writing"}``
        once the refusal is decided, then ``{"type": "token", "text": ...}`` per sentence -- each one
        final: checked by its answerer, markers already in their final numbers, never taken back --
        and one ``{"type": "answer", "answer": Answer}`` whose text is the tokens joined. A bad
        question raises ``QuestionError`` before the first event, so an API can still answer 4xx."""
        query = Query.of(query, **options)
        self.check_question(query.question)
        self.check_history(query.history)
        self.check_episode(query.episode)
        yield {"type": "status", "stage": "searching"}
        p = self.prepare(query)
        yield {"type": "status", "stage": "writing"}
        if p.decision.refused:
            yield from _whole(self.refusal_answer(p))
            return
        citer, shown, draft = Citer(p.result.hits, self.settings.episodes_dir), [], None
        for piece in p.answerer.stream(p.standalone, p.result.hits):
            if not isinstance(piece, str):  # the Draft the sentences make up (and its notes)
                draft = piece
                continue
            text = citer(piece)
            if text:
                yield {"type": "token", "text": f" {text}" if shown else text}
                shown.append(text)
        yield {"type": "answer", "answer": self._finish(p, " ".join(shown), citer, draft.notes if draft else [])}

    def as_runnable(self) -> Runnable:
        """The pipeline as LCEL: a ``Query`` or ``{"question", "history"?, "episode"?, "answerer"?,
        "sections"?}`` -> ``Answer``."""

        def _ask(inputs: Query | dict) -> Answer:
            return self.ask(inputs if isinstance(inputs, Query) else Query(**inputs))

        return RunnableLambda(_ask, name="episode_assistant")


def _whole(answer: Answer) -> Iterator[dict]:
    """A finished answer (a refusal) as its one token and the answer event."""
    yield {"type": "token", "text": answer.answer}
    yield {"type": "answer", "answer": answer}
