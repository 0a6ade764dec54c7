"""The retrieval measures the eval reports, computed by ranx (the same maths as trec_eval).

ranx computes the metrics and runs the paired significance tests (``eval.compare``), so it is the one
metrics implementation. Before the switch from ir-measures, both gave identical per-question values
(max difference 0.0) for all five measures, four retrievers and 96 answerable questions of the bundled set.

A question whose ranking is empty scores 0 (it is not skipped).

    >>> per_q = score({"a": ["d9", "d1"], "b": []}, {"a": {"d1", "d2"}, "b": {"d5"}})
    >>> round(per_q["a"]["RR@10"], 3), per_q["b"]["nDCG@10"]
    (0.5, 0.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from statistics import mean

# display name -> ranx metric name
MEASURES = {"nDCG@10": "ndcg@10", "R@5": "recall@5", "R@10": "recall@10", "RR@10": "mrr@10", "P@5": "precision@5"}
PRIMARY = "nDCG@10"  # the measure per-question wins and losses are ranked by


def ranx_qrels(qrels: Mapping[str, Iterable[str]]):
    from ranx import Qrels  # ranx loads numba (~1 s): only when scoring

    return Qrels({qid: dict.fromkeys(docs, 1) for qid, docs in qrels.items()})


def ranx_run(rankings: Mapping[str, list[str]], qids: Iterable[str], name: str):
    """A run over exactly ``qids`` (an empty ranking where there is none), scored by rank order."""
    from ranx import Run

    return Run(
        {q: {d: float(len(ids) - r) for r, d in enumerate(ids)} for q in qids for ids in [rankings.get(q, [])]}, name
    )


def per_question(run) -> dict[str, dict[str, float]]:
    """Per-question values that ranx stored in ``run`` while evaluating or comparing it."""
    return {q: {m: float(run.scores[name][q]) for m, name in MEASURES.items()} for q in run.keys()}


def score(rankings: Mapping[str, list[str]], qrels: Mapping[str, Iterable[str]]) -> dict[str, dict[str, float]]:
    """Per-question values of every measure: ``rankings`` holds judged ids in rank order, ``qrels``
    the relevant judged ids of each scored question (questions not in ``qrels`` are not scored)."""
    from ranx import evaluate

    if not qrels:
        return {}
    run = ranx_run(rankings, qrels, "run")
    evaluate(ranx_qrels(qrels), run, list(MEASURES.values()), return_mean=False)
    return per_question(run)


def aggregate(per_q: Mapping[str, Mapping[str, float]], ids: Iterable[str] | None = None) -> dict[str, float]:
    rows = [per_q[i] for i in (ids if ids is not None else per_q) if i in per_q]
    return {m: round(mean(r[m] for r in rows), 4) if rows else 0.0 for m in MEASURES}
