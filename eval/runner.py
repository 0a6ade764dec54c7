"""``episode-assistant eval``: retrieval metrics (ir-measures) for every retriever side by side,
answer checks (refusal, citation validity, answer-point coverage) for one answerer.

    >>> from vectorstore.config import load_settings
    >>> result = run_eval(load_settings(), retrievers=("hybrid", "naive"))   # doctest: +SKIP
    >>> result["retrievers"]["hybrid"]["nDCG@10"] > result["retrievers"]["naive"]["nDCG@10"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

import ir_measures
from ir_measures import Qrel, ScoredDoc

from assistant import followup
from assistant.chain import EpisodeAssistant
from assistant.query import Query
from assistant.retriever import HybridRetriever
from assistant.text import split_sentences, tokenize
from vectorstore.config import Settings
from vectorstore.filters import SearchFilter
from vectorstore.ingest import ingest
from vectorstore.store import EpisodeStore
from vectorstore.verify import citation_is_valid

from .measures import MEASURES
from .naive import NaiveRetriever
from .questions import Canonicaliser, Question, QuestionSet, load_questions

RETRIEVERS = ("hybrid", "dense", "bm25", "naive")
# An answer point counts as covered when this share of its content words is in the answer, or
# one answer sentence embeds this close to it.
POINT_LEXICAL = 0.5
POINT_COSINE = 0.6


class EvalError(RuntimeError):
    pass


# --- setup --------------------------------------------------------------------------------------
def source_file(qs: QuestionSet, settings: Settings) -> Path:
    for folder in (
        qs.path.parent,
        Path(settings.episodes_dir),
        Path(__file__).resolve().parents[1] / "data" / "episodes",
    ):
        candidate = folder / qs.source
        if candidate.is_file():
            return candidate.resolve()
    raise EvalError(f"{qs.path}: source episode {qs.source!r} not found beside it or in {settings.episodes_dir}")


def episode_store(settings: Settings, source: Path) -> tuple[EpisodeStore, str]:
    """The configured store when it holds this exact file; else a private temporary one, so the
    eval never writes into a user's store and always scores the file the labels refer to."""
    from vectorstore.episode import file_hash

    digest = file_hash(source.read_bytes())
    try:
        store = EpisodeStore(settings)
        for meta in store.episodes():
            if meta.get("content_hash") == digest:
                return store, meta["episode_id"]
    except Exception:  # unreachable or empty store: fall through to a private one
        pass
    tmp = tempfile.mkdtemp(prefix="episode-assistant-eval-")
    store = EpisodeStore(settings.model_copy(update={"db": tmp, "chroma_url": None}))
    [result] = ingest([source], store, progress=False)
    if result.status == "failed":
        raise EvalError(result.error)
    return store, result.id


def dup_groups(store: EpisodeStore, episode_id: str) -> dict[int, int]:
    quotes = store.chunks(SearchFilter(episode=episode_id, sections=("quotes",)), documents=False)
    return {c.metadata["index"]: c.metadata["dup_group"] for c in quotes if "dup_group" in c.metadata}


# --- retrieval ----------------------------------------------------------------------------------
def standalone(q: Question) -> str:
    return followup.rewrite(q.question, q.history)


def rankings(
    name: str, qs: QuestionSet, store: EpisodeStore, settings: Settings, episode_id: str, source: Path, k: int
) -> dict[str, list[str]]:
    answerable = [q for q in qs.questions if q.answerable]
    if name == "naive":
        naive = NaiveRetriever(source)
        return {q.id: naive.search(standalone(q)) for q in answerable}
    retriever = HybridRetriever.from_settings(store, settings, mode=name, k=k)
    flt = SearchFilter(episode=episode_id)
    return {q.id: [h.id for h in retriever.search(standalone(q), k=k, flt=flt).hits] for q in answerable}


def score(ranked: dict[str, list[str]], qs: QuestionSet, canon: Canonicaliser) -> dict[str, dict[str, float]]:
    """Per-question metrics; a question with an empty ranking scores 0 (trec_eval would skip it)."""
    qrels = [Qrel(q.id, doc, 1) for q in qs.questions if q.answerable for doc in canon.relevant(q)]
    run = [
        ScoredDoc(qid, doc, float(len(docs) - r))
        for qid, ids in ranked.items()
        for docs in [canon.ranking(ids)]
        for r, doc in enumerate(docs)
    ]
    per_q = {q.id: dict.fromkeys(MEASURES, 0.0) for q in qs.questions if q.answerable}
    names = {str(m): n for n, m in MEASURES.items()}
    for metric in ir_measures.iter_calc(list(MEASURES.values()), qrels, run):
        per_q[metric.query_id][names[str(metric.measure)]] = float(metric.value)
    return per_q


def aggregate(per_q: dict[str, dict[str, float]], ids: list[str] | None = None) -> dict[str, float]:
    rows = [per_q[i] for i in (ids if ids is not None else per_q)]
    return {m: round(mean(r[m] for r in rows), 4) if rows else 0.0 for m in MEASURES}


# --- answers ------------------------------------------------------------------------------------
def point_covered(point: str, answer: str, answer_vectors, embed) -> bool:
    want = set(tokenize(point))
    if want and len(want & set(tokenize(answer))) / len(want) >= POINT_LEXICAL:
        return True
    if not answer_vectors:
        return False
    p = embed.embed_query(point)
    return max(sum(a * b for a, b in zip(p, v)) for v in answer_vectors) >= POINT_COSINE


def check_answers(qs: QuestionSet, bot: EpisodeAssistant, episode_id: str, answerer: str) -> dict:
    embed = bot.store.embeddings
    rows, points_hit, points_all, cites_ok, cites_all = [], 0, 0, 0, 0
    for q in qs.questions:
        signal = bot.retriever.search(standalone(q), flt=SearchFilter(episode=episode_id)).top_dense
        a = bot.ask(Query(q.question, q.history, episode=episode_id, answerer=answerer))
        valid = [citation_is_valid(c.file, c.section, c.text, c.line_start, c.line_end) for c in a.citations]
        cites_ok += sum(valid)
        cites_all += len(valid)
        covered = []
        if q.answerable and q.answer_points:
            sentences = split_sentences(a.answer) if not a.refused else []
            vectors = embed.embed_documents(sentences) if sentences else []
            covered = [not a.refused and point_covered(p, a.answer, vectors, embed) for p in q.answer_points]
            points_hit += sum(covered)
            points_all += len(covered)
        rows.append(
            {
                "id": q.id,
                "kind": q.kind,
                "question": q.question,
                "standalone": a.standalone_question,
                "refused": a.refused,
                "signal": round(signal, 4),
                "answer": a.answer,
                "citations": [c.id for c in a.citations],
                "citations_valid": all(valid),
                "points_covered": sum(covered),
                "points": len(covered),
            }
        )
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    return {
        "refusal": {
            "unanswerable": len(unanswerable),
            "unanswerable_refused": sum(r["refused"] for r in unanswerable),
            "answerable": len(answerable),
            "answerable_refused": sum(r["refused"] for r in answerable),
        },
        "citations_valid": round(cites_ok / cites_all, 4) if cites_all else 1.0,
        "answer_points": round(points_hit / points_all, 4) if points_all else 0.0,
        "answers": rows,
    }


def calibrate(rows: list[dict]) -> list[dict]:
    """Refusal outcomes for a sweep of thresholds over the questions' retrieval signals."""
    out = []
    for t in [round(0.20 + 0.01 * i, 2) for i in range(41)]:
        ans = [r for r in rows if r["kind"] != "unanswerable"]
        una = [r for r in rows if r["kind"] == "unanswerable"]
        out.append(
            {
                "threshold": t,
                "answerable_refused": sum(r["signal"] < t for r in ans),
                "unanswerable_refused": sum(r["signal"] < t for r in una),
                "balanced_accuracy": round(
                    (mean(r["signal"] >= t for r in ans) + mean(r["signal"] < t for r in una)) / 2, 4
                )
                if ans and una
                else None,
            }
        )
    return out


# --- the whole run ------------------------------------------------------------------------------
def run_eval(
    settings: Settings,
    questions: str | Path | None = None,
    retrievers=("hybrid",),
    k: int = 10,
    answerer: str = "extractive",
    progress: bool = False,
) -> dict:
    started = time.perf_counter()
    qs = load_questions(questions)
    source = source_file(qs, settings)
    store, episode_id = episode_store(settings, source)
    canon = Canonicaliser(episode_id, dup_groups(store, episode_id))
    per_retriever: dict[str, dict] = {}
    runs: dict[str, dict[str, list[str]]] = {}
    for name in retrievers:
        if progress:
            print(f"eval: retrieving with {name}", file=sys.stderr)
        runs[name] = rankings(name, qs, store, settings, episode_id, source, k)
        per_retriever[name] = score(runs[name], qs, canon)
    kinds = sorted({q.kind for q in qs.questions if q.answerable})
    by_kind = {kind: [q.id for q in qs.questions if q.kind == kind] for kind in kinds}
    if progress:
        print(f"eval: answering with {answerer}", file=sys.stderr)
    bot = EpisodeAssistant(settings, store=store)
    answers = check_answers(qs, bot, episode_id, answerer)
    return {
        "questions": str(qs.path),
        "source": str(source),
        "episode_id": episode_id,
        "k": k,
        "answerer": answerer,
        "retrievers": {n: aggregate(pq) for n, pq in per_retriever.items()},
        "per_kind": {kind: {n: aggregate(pq, ids) for n, pq in per_retriever.items()} for kind, ids in by_kind.items()},
        "refusal": answers["refusal"],
        "citations_valid": answers["citations_valid"],
        "answer_points": answers["answer_points"],
        "per_question": {n: pq for n, pq in per_retriever.items()},
        "runs": runs,
        "relevant": {q.id: sorted(canon.relevant(q)) for q in qs.questions if q.answerable},
        "answers": answers["answers"],
        "calibration": calibrate(answers["answers"]),
        "refusal_threshold": settings.refusal_threshold,
        "seconds": round(time.perf_counter() - started, 1),
    }
