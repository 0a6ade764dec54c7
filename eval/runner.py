"""``episode-assistant eval``: retrieval metrics for every retriever side by side (with paired
significance tests of hybrid against each baseline), answer checks for each answerer, and both
halves of the question set (tune, test) side by side.

    >>> from vectorstore.config import load_settings
    >>> result = run_eval(load_settings(), retrievers=("hybrid", "naive"))   # doctest: +SKIP
    >>> result["retrievers"]["hybrid"]["nDCG@10"] > result["retrievers"]["naive"]["nDCG@10"]  # doctest: +SKIP
    True
    >>> result["significance"]["tests"][0]["metrics"]["nDCG@10"]["significant"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable
from statistics import mean

from tqdm import tqdm

from assistant import followup, refusal, spelling
from assistant.chain import EpisodeAssistant
from assistant.retriever import HybridRetriever
from vectorstore.config import Settings
from vectorstore.filters import SearchFilter

from .answers import answer_figures, check_answers
from .compare import baseline_tests
from .corpus import Corpus, EvalError, open_corpus  # noqa: F401  (EvalError: API)
from .measures import aggregate, score
from .naive import NaiveRetriever
from .overrides import apply_overrides, recorded_settings
from .questions import Question, load_questions

RETRIEVERS = ("hybrid", "dense", "bm25", "naive")
ANSWERERS_ALL = ("extractive", "llm")  # what --answerer all runs


# --- retrieval ----------------------------------------------------------------------------------
def standalone(q: Question, names: Container[str] = ()) -> str:
    return followup.rewrite(q.question, q.history, names)


def rankings(
    name: str, questions: list[Question], corpus: Corpus, settings: Settings, k: int, progress: bool = False
) -> dict[str, list[str]]:
    """Chunk ids in rank order for each answerable question."""
    if name == "naive":
        missing = [str(f) for f in corpus.files.values() if not f.is_file()]
        if missing:
            raise EvalError(f"the naive baseline reads the episode files, and {', '.join(missing)} is gone")
        naive = NaiveRetriever(list(corpus.files.values()), embeddings=corpus.store.embeddings)

        def search(q: Question) -> list[str]:
            return naive.search(standalone(q), corpus.scope(q))
    else:
        retriever = HybridRetriever.from_settings(corpus.store, settings, mode=name, k=k)

        def search(q: Question) -> list[str]:
            flt = SearchFilter(episode=corpus.scope(q))
            lex = refusal.lexicon(retriever, flt.episode)
            _, searched = spelling.for_search(standalone(q, lex.all_names), lex)  # as the chain does
            return [h.id for h in retriever.search(searched, k=k, flt=flt).hits]

    answerable = [q for q in questions if q.answerable]
    return {q.id: search(q) for q in tqdm(answerable, desc=name, unit="q", disable=not progress, leave=False)}


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


def answerer_names(answerer: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(answerer, str):
        return ANSWERERS_ALL if answerer == "all" else (answerer,)
    return tuple(answerer)


# --- the whole run ------------------------------------------------------------------------------
def run_eval(
    settings: Settings,
    questions=None,
    retrievers=("hybrid",),
    k: int = 10,
    answerer: str | Iterable[str] = "extractive",
    progress: bool = False,
    split: str | None = None,
    limit: int | None = None,
    overrides: Iterable[str] = (),
    stat_test: str = "student",
) -> dict:
    """``split``: "tune" or "test" evaluates that half, "all" the whole file as one set, None (the
    default) the whole file with both halves reported side by side. ``limit``: the first N
    questions only. ``overrides``: ``NAME=VALUE`` settings for this run (``eval --set``)."""
    started = time.perf_counter()
    settings, changed = apply_overrides(settings, overrides)
    qs = load_questions(questions)
    selected = qs.subset(split or "all").head(limit)
    halves = ("tune", "test") if split is None and selected.has_splits else ()
    corpus = open_corpus(selected, settings)
    timings = {"setup": round(time.perf_counter() - started, 1)}
    try:
        answerable = [q for q in selected.questions if q.answerable]
        qrels = {q.id: sorted(corpus.relevant(q)) for q in answerable}
        runs, judged, per_q = {}, {}, {}
        for name in retrievers:
            lap = time.perf_counter()
            runs[name] = rankings(name, selected.questions, corpus, settings, k, progress)
            judged[name] = {qid: corpus.canon.ranking(ids) for qid, ids in runs[name].items()}
            per_q[name] = score(judged[name], qrels)
            timings[name] = round(time.perf_counter() - lap, 1)
        bot = EpisodeAssistant(settings, store=corpus.store)
        answers = {}
        for name in answerer_names(answerer):
            lap = time.perf_counter()
            answers[name] = check_answers(selected.questions, bot, name, corpus.scope, progress)
            timings[f"answers {name}"] = round(time.perf_counter() - lap, 1)
    finally:
        corpus.close()
    first = next(iter(answers.values()))
    figures = {name: answer_figures(rows) for name, rows in answers.items()}
    by_kind = {kind: [q.id for q in answerable if q.kind == kind] for kind in sorted({q.kind for q in answerable})}
    splits = {}
    for half in halves:
        ids = {q.id for q in selected.questions if q.split == half}
        splits[half] = {
            "questions": len(ids),
            "retrievers": {n: aggregate(pq, [i for i in pq if i in ids]) for n, pq in per_q.items()},
            "answerers": {n: answer_figures([r for r in rows if r["id"] in ids]) for n, rows in answers.items()},
        }
    main = next(iter(figures.values()))
    lap = time.perf_counter()
    significance = baseline_tests(judged, qrels, stat_test)
    timings["significance"] = round(time.perf_counter() - lap, 1)
    return {
        "questions": str(qs.path),
        "source": [str(f) for f in corpus.files.values()]
        if len(corpus.files) > 1
        else str(next(iter(corpus.files.values()))),
        "episode_id": corpus.default_episode,
        "episodes": {eid: str(f) for eid, f in corpus.files.items()},
        "store": corpus.origin,
        "k": k,
        "answerer": next(iter(answers)),
        "split": split,
        "limit": limit,
        "retrievers": {n: aggregate(pq) for n, pq in per_q.items()},
        "per_kind": {kind: {n: aggregate(pq, ids) for n, pq in per_q.items()} for kind, ids in by_kind.items()},
        "refusal": main["refusal"],
        "citations_valid": main["citations_valid"],
        "answer_points": main["answer_points"],
        "answerers": figures,
        "splits": splits,
        "significance": significance,
        "per_question": per_q,
        "runs": runs,
        "judged_runs": judged,
        "relevant": qrels,
        "answers": first,
        "answers_by_answerer": answers,
        "calibration": calibrate(first),
        "refusal_threshold": settings.refusal_threshold,
        "settings": recorded_settings(settings),
        "overrides": changed,
        "stat_test": stat_test,
        "seconds": round(time.perf_counter() - started, 1),
        "timings": timings,  # seconds per phase
    }
