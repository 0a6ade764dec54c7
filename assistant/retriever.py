"""Hybrid retrieval: dense (Chroma) + BM25 (rank_bm25), fused by weighted reciprocal rank.

    >>> from vectorstore.config import load_settings
    >>> from vectorstore.store import EpisodeStore
    >>> retriever = HybridRetriever(store=EpisodeStore(load_settings()), k=5)   # doctest: +SKIP
    >>> [d.id for d in retriever.invoke("sample efficiency?")]                # doctest: +SKIP
    ['e8dde77376fc3016/quotes/120', ...]

Why not ``EnsembleRetriever``: refusal and the citations need each hit's scores (dense cosine,
BM25, fused) and near-duplicate quotes must collapse into one hit; the ensemble returns bare
documents. The fusion itself is the same weighted RRF.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr
from rank_bm25 import BM25Okapi

from vectorstore.chunks import DUP_WINDOW_CONTAINMENT, bigrams, near_duplicate
from vectorstore.config import default
from vectorstore.filters import SearchFilter
from vectorstore.store import EpisodeStore

from .text import tokenize

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass
class Hit:
    id: str
    text: str
    metadata: dict
    score: float = 0.0  # fused RRF score (or the single retriever's score)
    dense_score: float | None = None  # cosine similarity
    bm25_score: float | None = None
    alternates: list[str] = field(default_factory=list)  # near-duplicates folded into this hit

    def to_document(self) -> Document:
        md = dict(
            self.metadata,
            score=self.score,
            dense_score=self.dense_score,
            bm25_score=self.bm25_score,
            alternates=list(self.alternates),
        )
        return Document(id=self.id, page_content=self.text, metadata=md)


@dataclass
class SearchResult:
    hits: list[Hit]
    top_dense: float  # best cosine similarity among the filtered chunks: the refusal signal
    top_bm25: float

    def with_first(self, leading: Sequence[Hit]) -> SearchResult:
        """The same result with ``leading`` first, in order, then its other hits: an overview answer's
        summary, a figure question's source that states the figure."""
        have = {h.id for h in leading}
        return replace(self, hits=[*leading, *(h for h in self.hits if h.id not in have)])


class BM25Index:
    """BM25 over every chunk's text plus its enrichment; built once per store revision.

    rank_bm25's ``BM25Okapi`` defines the model (k1, b, its idf with the epsilon floor); its own
    ``get_scores`` loops over every document in Python for every query term (~0.35 s at 1,000
    episodes), so scoring here goes through per-term postings arrays instead: the same numbers,
    touching only the documents that contain a query term.
    """

    def __init__(self, ids: list[str], texts: list[str], metadatas: list[dict]):
        self.ids, self.texts, self.metadatas = ids, texts, metadatas
        corpus = [tokenize(t + " " + md.get("enrichment", "")) for t, md in zip(texts, metadatas)]
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if not corpus:
            return
        model = BM25Okapi(corpus)
        self.idf = model.idf
        self.k1 = model.k1
        self.norm = model.k1 * (1 - model.b + model.b * np.asarray(model.doc_len) / model.avgdl)
        docs: dict[str, list[int]] = {}
        freqs: dict[str, list[int]] = {}
        for i, counts in enumerate(model.doc_freqs):
            for term, tf in counts.items():
                docs.setdefault(term, []).append(i)
                freqs.setdefault(term, []).append(tf)
        self.postings = {t: (np.asarray(docs[t]), np.asarray(freqs[t], dtype=float)) for t in docs}

    @classmethod
    def from_store(cls, store: EpisodeStore) -> BM25Index:
        chunks = store.chunks()
        return cls([c.id for c in chunks], [c.text for c in chunks], [c.metadata for c in chunks])

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25Okapi score of every document (0 where no query term occurs)."""
        total = np.zeros(len(self.ids))
        for term in tokens:
            if term in self.postings:
                idx, tf = self.postings[term]
                total[idx] += self.idf[term] * tf * (self.k1 + 1) / (tf + self.norm[idx])
        return total

    def search(self, query: str, n: int, flt: SearchFilter) -> list[tuple[int, float]]:
        tokens = tokenize(query)
        if not self.postings or not tokens:
            return []
        scores = self.scores(tokens)
        candidates = np.flatnonzero(scores > 0)
        # the best few candidates usually fill n even under a filter; sort everything only if not
        for width in (n * 4, len(candidates)):
            if width < len(candidates):
                top = candidates[np.argpartition(-scores[candidates], width)[:width]]
            else:
                top = candidates
            top = top[np.lexsort((top, -scores[top]))]
            out = [(int(i), float(scores[i])) for i in top if flt.matches(self.metadatas[i])][:n]
            if len(out) >= n or width >= len(candidates):
                return out
        return []


class HybridRetriever(BaseRetriever):
    """A LangChain retriever over an ``EpisodeStore``. ``mode`` picks hybrid, dense or bm25.
    Unset parameters take the ``Settings`` defaults, so a retriever built here fuses exactly as
    the one ``from_settings`` builds for production. ``invoke(question, k=3)`` returns 3 hits."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any
    k: int = default("top_k")
    mode: Mode = "hybrid"
    dense_weight: float = default("dense_weight")
    bm25_weight: float = default("bm25_weight")
    rrf_k: int = default("rrf_k")
    followup_weight: float = default("followup_weight")  # the typed follow-up's share (see search)
    candidates: int = 40
    filter: SearchFilter = SearchFilter()
    collapse_duplicates: bool = True
    revision_check_seconds: float = 1.0

    _bm25: BM25Index | None = PrivateAttr(default=None)
    _bm25_revision: str | None = PrivateAttr(default=None)
    _checked_at: float = PrivateAttr(default=0.0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, store: EpisodeStore, settings, **kwargs) -> HybridRetriever:
        params = dict(
            k=settings.top_k,
            dense_weight=settings.dense_weight,
            bm25_weight=settings.bm25_weight,
            rrf_k=settings.rrf_k,
            followup_weight=settings.followup_weight,
        )
        params.update(kwargs)
        return cls(store=store, **params)

    # --- BM25 index, rebuilt only when the store's revision changes -------------------------
    def bm25_index(self) -> BM25Index:
        now = time.monotonic()
        if self._bm25 is not None and now - self._checked_at < self.revision_check_seconds:
            return self._bm25
        with self._lock:
            revision = self.store.revision()
            self._checked_at = now
            if self._bm25 is None or revision != self._bm25_revision:
                self._bm25 = BM25Index.from_store(self.store)
                self._bm25_revision = revision
            return self._bm25

    # --- search ------------------------------------------------------------------------------
    def _dense(self, query: str, n: int, flt: SearchFilter):
        return self.store.query(self.store.embeddings.embed_query(query), n, flt)

    def search(self, query: str, k: int | None = None, flt: SearchFilter | None = None) -> SearchResult:
        """The ``k`` best hits for ``query``. A follow-up's standalone question (``followup.Standalone``)
        also carries the follow-up as typed: in hybrid mode both are searched and fused, the typed one at
        ``followup_weight`` of each weight, so the follow-up's own words ("deepseek", "bottleneck") are
        not drowned by the earlier question's. Scores and the refusal signal stay the standalone's."""
        k = k or self.k
        flt = flt or self.filter
        n = max(self.candidates, k * 4)
        hits: dict[str, Hit] = {}
        top_dense = top_bm25 = 0.0
        typed = getattr(query, "own_search", None)
        queries = [(str(query), 1.0)]
        if self.mode == "hybrid" and typed and typed.strip() != str(query).strip() and self.followup_weight > 0:
            queries.append((typed, self.followup_weight))
        if self.mode in ("hybrid", "dense"):
            for q, (text, share) in enumerate(queries):
                for rank, c in enumerate(self._dense(text, n, flt)):
                    hit = hits.setdefault(c.id, Hit(c.id, c.text, c.metadata))
                    if hit.dense_score is None:  # the standalone's similarity first
                        hit.dense_score = c.similarity
                    weight = self.dense_weight * share
                    hit.score += weight / (self.rrf_k + rank + 1) if self.mode == "hybrid" else c.similarity
                    if q == 0:
                        top_dense = max(top_dense, c.similarity)
        if self.mode in ("hybrid", "bm25"):
            index = self.bm25_index()
            for q, (text, share) in enumerate(queries):
                for rank, (i, score) in enumerate(index.search(text, n, flt)):
                    cid = index.ids[i]
                    hit = hits.setdefault(cid, Hit(cid, index.texts[i], index.metadatas[i]))
                    if hit.bm25_score is None:
                        hit.bm25_score = score
                    weight = self.bm25_weight * share
                    hit.score += weight / (self.rrf_k + rank + 1) if self.mode == "hybrid" else score
                    if q == 0:
                        top_bm25 = max(top_bm25, score)
        ranked = sorted(hits.values(), key=lambda h: (-h.score, h.id))
        if self.collapse_duplicates:
            ranked = collapse_duplicates(ranked)
        return SearchResult(ranked[:k], top_dense, top_bm25)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        """LangChain's entry point: ``invoke(query, k=n)`` asks for ``n`` hits (as LangChain's
        standard retriever tests expect)."""
        return [h.to_document() for h in self.search(query, k=k).hits]


def _duplicate_key(hit: Hit) -> tuple[str, str, int] | None:
    group = hit.metadata.get("dup_group")
    if group is None:
        return None
    return hit.metadata.get("episode_id", ""), hit.metadata.get("section", ""), int(group)


def _same_words(hit: Hit, leader: Hit, grams: Callable[[Hit], set]) -> bool:
    """Near-duplicate text, for stores indexed before a group was recorded (the grouping rule
    changes; an unchanged file is not re-chunked): quotes, and entity context windows. ``grams``: a
    hit's word pairs, computed once per search (every hit is compared with every one kept)."""
    md, lmd = hit.metadata, leader.metadata
    section = md.get("section")
    if section != lmd.get("section") or md.get("episode_id") != lmd.get("episode_id"):
        return False
    if section == "quotes":
        return near_duplicate(hit.text, leader.text, grams=(grams(hit), grams(leader)))
    if section == "companies" and md.get("transcript_position") is not None:
        return lmd.get("transcript_position") is not None and near_duplicate(
            hit.text, leader.text, DUP_WINDOW_CONTAINMENT, (grams(hit), grams(leader))
        )
    return False


def collapse_duplicates(ranked: list[Hit]) -> list[Hit]:
    """One hit per near-duplicate group (quotes, entity context windows), at the group's best rank;
    the others become its alternates. The hit kept is the group's longest text: "Okay, so I think
    RL has finally worked" (quotes/5) is the start of quotes/16, which goes on to say what it means."""
    kept: list[Hit] = []
    leaders: dict[tuple[str, str, int], int] = {}  # group -> position in kept
    pairs: dict[str, set] = {}

    def grams(hit: Hit) -> set:
        if hit.id not in pairs:
            pairs[hit.id] = bigrams(hit.text)
        return pairs[hit.id]

    for hit in ranked:
        key = _duplicate_key(hit)
        at = leaders.get(key) if key else None
        if at is None:
            at = next((i for i, k in enumerate(kept) if _same_words(hit, k, grams)), None)
        if at is None:
            kept.append(hit)
            if key:
                leaders[key] = len(kept) - 1
            continue
        leader = kept[at]
        if len(hit.text) > len(leader.text):  # the fuller text speaks for the group, at its best rank
            hit.alternates, leader.alternates = [*leader.alternates, leader.id], []
            kept[at] = hit
        else:
            leader.alternates.append(hit.id)
    return kept
