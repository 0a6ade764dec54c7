"""Is a difference real or noise? Paired significance tests between rankings (ranx's ``compare``:
Fisher's randomization test or the paired t-test), p-values adjusted for the five measures of each
comparison (Benjamini-Hochberg, scipy), per-question wins and losses, and answer changes against a saved run.

    >>> qrels = {f"q{i}": {"good"} for i in range(30)}
    >>> best = {q: ["good"] for q in qrels}
    >>> worse = {q: ["bad", "bad2", "good"] for q in qrels}
    >>> [t] = paired_tests(qrels, {"a": best, "b": worse}, [("a", "b")])["tests"]
    >>> t["metrics"]["RR@10"]["delta"], t["metrics"]["RR@10"]["significant"]
    (-0.6667, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping

from .answers import answer_figures
from .measures import MEASURES, PRIMARY, per_question, ranx_qrels, ranx_run
from .saved import SavedRun

# The t-test is the default: it is scipy, instant. Fisher's randomization test is numba code: its first
# use compiles for 15-60 s on 2 cores, and loading it costs seconds in every run after that. On IR
# measures the two agree closely (Smucker et al., CIKM 2007).
STAT_TESTS = {"student": "paired t-test", "fisher": "Fisher's randomization test"}
ALPHA = 0.05  # on the adjusted p-value
PERMUTATIONS = 5000
TOP = 10  # wins and losses shown each way


def _adjust(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg over the measures of one comparison (NaN: identical scores, p = 1)."""
    from scipy.stats import false_discovery_control

    clean = [1.0 if math.isnan(p) else min(max(p, 0.0), 1.0) for p in p_values]
    return [float(p) for p in false_discovery_control(clean, method="bh")] if clean else []


def paired_tests(
    qrels: Mapping[str, Iterable[str]],
    runs: Mapping[str, Mapping[str, list[str]]],
    pairs: list[tuple[str, str]],
    stat_test: str = "student",
) -> dict:
    """For each (control, treatment) pair: per measure both means, the delta (treatment - control),
    the p-value, its adjusted value and whether that is below ``ALPHA``; plus every run's
    per-question values. ``runs`` hold judged ids in rank order."""
    from ranx import compare

    if stat_test not in STAT_TESTS:
        raise ValueError(f"stat_test {stat_test!r} is not one of {', '.join(STAT_TESTS)}")
    if not qrels or not pairs:
        return {"stat_test": stat_test, "questions": len(qrels), "tests": [], "per_question": {}}
    judged = ranx_qrels(qrels)
    built = {name: ranx_run(runs[name], qrels, name) for pair in pairs for name in pair}
    tests = []
    for control, treatment in pairs:
        with warnings.catch_warnings():  # scipy on identical scores: "precision loss"; p is NaN, taken as 1
            warnings.simplefilter("ignore", RuntimeWarning)
            report = compare(
                judged,
                [built[control], built[treatment]],
                list(MEASURES.values()),
                stat_test=stat_test,
                n_permutations=PERMUTATIONS,
                max_p=ALPHA,
            )
        metrics = {}
        for m, name in MEASURES.items():
            before, after = report.results[control][name], report.results[treatment][name]
            p = float(report.comparisons[control, treatment][name]["p_value"])
            metrics[m] = {
                "control": round(before, 4),
                "treatment": round(after, 4),
                "delta": round(after - before, 4),
                "p": p,
            }
        tests.append({"control": control, "treatment": treatment, "metrics": metrics})
    for t in tests:  # one family per comparison: its five measures
        adjusted = iter(_adjust([t["metrics"][m]["p"] for m in MEASURES]))
        for m in MEASURES:
            row = t["metrics"][m]
            row["p"] = 1.0 if math.isnan(row["p"]) else round(row["p"], 5)
            row["p_adjusted"] = round(next(adjusted), 5)
            row["significant"] = row["p_adjusted"] < ALPHA and row["delta"] != 0
    per_q = {name: per_question(run) for name, run in built.items()}
    return {"stat_test": stat_test, "questions": len(qrels), "alpha": ALPHA, "tests": tests, "per_question": per_q}


def wins_and_losses(
    before: Mapping[str, Mapping[str, float]], after: Mapping[str, Mapping[str, float]], texts: Mapping[str, str]
) -> dict:
    """Per-question changes of the primary measure: counts, and the ``TOP`` biggest each way."""
    deltas = {q: after[q][PRIMARY] - before[q][PRIMARY] for q in after if q in before}
    rows = [
        {
            "id": q,
            "question": texts.get(q, ""),
            "before": round(before[q][PRIMARY], 4),
            "after": round(after[q][PRIMARY], 4),
            "delta": round(d, 4),
        }
        for q, d in deltas.items()
    ]
    return {
        "measure": PRIMARY,
        "better": sum(d > 0 for d in deltas.values()),
        "worse": sum(d < 0 for d in deltas.values()),
        "same": sum(d == 0 for d in deltas.values()),
        "wins": sorted((r for r in rows if r["delta"] > 0), key=lambda r: (-r["delta"], r["id"]))[:TOP],
        "losses": sorted((r for r in rows if r["delta"] < 0), key=lambda r: (r["delta"], r["id"]))[:TOP],
        "deltas": {q: round(d, 4) for q, d in sorted(deltas.items())},
    }


def _state(row: dict) -> str:
    return f"refused ({row.get('reason') or 'no reason'})" if row["refused"] else "answered"


def answer_changes(before_rows: list[dict], after_rows: list[dict]) -> dict:
    """Questions whose refusal flipped, and answer points gained or lost, between two runs of one
    answerer; plus both runs' figures over the questions they share."""
    before = {r["id"]: r for r in before_rows}
    shared = [r for r in after_rows if r["id"] in before]
    flips, gained, lost = [], [], []
    for r in shared:
        b = before[r["id"]]
        if b["refused"] != r["refused"]:
            should_refuse = r["kind"] == "unanswerable"
            flips.append(
                {
                    "id": r["id"],
                    "kind": r["kind"],
                    "question": r["question"],
                    "before": _state(b),
                    "after": _state(r),
                    "better": r["refused"] == should_refuse,
                }
            )
        if b["points"] == r["points"]:
            delta = r["points_covered"] - b["points_covered"]
            row = {
                "id": r["id"],
                "question": r["question"],
                "before": b["points_covered"],
                "after": r["points_covered"],
                "of": r["points"],
            }
            (gained if delta > 0 else lost if delta < 0 else []).append(row)
    same = {r["id"] for r in shared}
    return {
        "questions": len(shared),
        "refusal_flips": flips,
        "points_gained": sum(r["after"] - r["before"] for r in gained),
        "points_lost": sum(r["before"] - r["after"] for r in lost),
        "gained": gained,
        "lost": lost,
        "before": answer_figures([b for q, b in before.items() if q in same]),
        "after": answer_figures(shared),
    }


def settings_changes(before: Mapping, after: Mapping) -> dict:
    return {
        k: {"before": before.get(k), "after": after.get(k)}
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    }


def compare_with_saved(result: dict, saved: SavedRun, stat_test: str = "student") -> dict:
    """The current run beside a saved one: retrieval on the answerable questions both scored
    (each run judged with the current qrels), answers on the questions both answered."""
    now_qrels = {q: set(docs) for q, docs in result["relevant"].items()}
    common = {q: now_qrels[q] for q in now_qrels if q in saved.qrels}
    retrievers = [n for n in result["judged_runs"] if n in saved.runs]
    runs = {f"saved {n}": saved.runs[n] for n in retrievers} | {
        f"now {n}": result["judged_runs"][n] for n in retrievers
    }
    tests = paired_tests(common, runs, [(f"saved {n}", f"now {n}") for n in retrievers], stat_test)
    texts = {r["id"]: r["question"] for rows in result["answers_by_answerer"].values() for r in rows}
    per_q = tests.pop("per_question")
    for t in tests["tests"]:
        t["retriever"] = t["treatment"].removeprefix("now ")
        t["changes"] = wins_and_losses(per_q[t["control"]], per_q[t["treatment"]], texts)
    return {
        "against": str(saved.folder),
        **tests,
        "judgements_changed": sorted(q for q in common if saved.qrels[q] != common[q]),
        "only_saved": sorted(set(saved.qrels) - set(now_qrels)),
        "only_now": sorted(set(now_qrels) - set(saved.qrels)),
        "answers": {
            name: answer_changes(saved.answers[name], rows)
            for name, rows in result["answers_by_answerer"].items()
            if name in saved.answers
        },
        "settings": settings_changes(saved.settings, result.get("settings", {})) if saved.settings else {},
    }


def baseline_tests(
    result_runs: Mapping[str, Mapping[str, list[str]]], qrels: Mapping[str, Iterable[str]], stat_test: str = "student"
) -> dict:
    """Hybrid against each baseline it was run with."""
    others = [n for n in result_runs if n != "hybrid"]
    if "hybrid" not in result_runs or not others:
        return {}
    tests = paired_tests(qrels, result_runs, [(b, "hybrid") for b in others], stat_test)
    tests.pop("per_question")
    return tests
