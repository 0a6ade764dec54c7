"""Saved runs and comparisons: paired significance (ranx), wins and losses, answer changes, the
saved files, and `eval --report a/` then `eval --set rrf_k=60 --report b/ --against a/`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from eval.compare import answer_changes, compare_with_saved, paired_tests, wins_and_losses
from eval.measures import MEASURES
from eval.report import write_report
from eval.runner import run_eval
from eval.saved import QRELS, load_saved, read_qrels, read_trec_run, write_trec_run
from vectorstore.config import Settings

from conftest import ROOT, child_env

QRELS_40 = {f"q{i:02}": {f"good{i}"} for i in range(40)}


# --- statistics -----------------------------------------------------------------------------------
@pytest.mark.parametrize("stat_test", ["fisher", "student"])
def test_a_known_difference_is_found(stat_test):
    first = {q: list(docs) for q, docs in QRELS_40.items()}  # the relevant item at rank 1
    third = {q: ["x", "y", *docs] if i % 4 else [*docs] for i, (q, docs) in enumerate(QRELS_40.items())}
    [t] = paired_tests(QRELS_40, {"first": first, "third": third}, [("first", "third")], stat_test)["tests"]
    rr = t["metrics"]["RR@10"]
    assert rr["control"] == 1.0 and rr["delta"] == pytest.approx(-0.5, abs=1e-3)
    assert rr["p_adjusted"] < 0.05 and rr["significant"]
    assert not t["metrics"]["R@10"]["significant"]  # both find everything in the top 10


@pytest.mark.parametrize("stat_test", ["fisher", "student"])
def test_a_run_compared_with_itself_differs_in_nothing(stat_test):
    mixed = {q: (["x", *docs] if i % 3 else []) for i, (q, docs) in enumerate(QRELS_40.items())}
    tests = paired_tests(QRELS_40, {"a": mixed, "b": dict(mixed)}, [("a", "b")], stat_test)
    for row in tests["tests"][0]["metrics"].values():
        assert row["delta"] == 0 and row["p"] == 1.0 and not row["significant"]


def test_wins_and_losses_keep_the_ten_biggest_each_way():
    before = {f"q{i}": {"nDCG@10": 0.5} for i in range(30)}
    after = {f"q{i}": {"nDCG@10": 0.5 + (i - 15) / 40} for i in range(30)}
    ch = wins_and_losses(before, after, {"q0": "first?"})
    assert (ch["better"], ch["worse"], ch["same"]) == (14, 15, 1)
    assert [r["id"] for r in ch["losses"][:2]] == ["q0", "q1"] and ch["losses"][0]["question"] == "first?"
    assert [r["id"] for r in ch["wins"][:2]] == ["q29", "q28"] and len(ch["wins"]) == len(ch["losses"]) == 10


def test_answer_changes_show_refusal_flips_and_points():
    def row(qid, kind, refused, covered, reason=None):
        return {
            "id": qid,
            "kind": kind,
            "question": qid + "?",
            "refused": refused,
            "reason": reason,
            "points_covered": covered,
            "points": 2,
            "citations": [],
            "words": 10,
            "seconds": 0.1,
        }

    before = [row("a", "factual", False, 1), row("u", "unanswerable", False, 0), row("b", "factual", False, 2)]
    after = [
        row("a", "factual", False, 2),
        row("u", "unanswerable", True, 0, "not_stated"),
        row("b", "factual", True, 0, "off_topic"),
    ]
    ch = answer_changes(before, after)
    assert [(f["id"], f["better"]) for f in ch["refusal_flips"]] == [("u", True), ("b", False)]
    assert ch["refusal_flips"][0]["after"] == "refused (not_stated)"
    assert (ch["points_gained"], ch["points_lost"]) == (1, 2)
    assert ch["before"]["refusal"]["unanswerable_refused"] == 0 and ch["after"]["refusal"]["unanswerable_refused"] == 1


def test_trec_files_round_trip(tmp_path):
    rankings = {"q1": ["e/quotes/3", "e/summary", "e/companies/1"], "q2": ["e/insights/0"], "q3": []}
    write_trec_run(tmp_path / "r.trec", rankings, "hybrid")
    assert read_trec_run(tmp_path / "r.trec") == {"q1": rankings["q1"], "q2": rankings["q2"]}
    assert (tmp_path / "r.trec").read_text().splitlines()[0] == "q1 Q0 e/quotes/3 1 3 hybrid"


def test_load_saved_explains_what_is_missing(tmp_path):
    from eval.corpus import EvalError

    with pytest.raises(EvalError, match="no such folder"):
        load_saved(tmp_path / "nope")
    with pytest.raises(EvalError, match="holds no saved run"):
        load_saved(tmp_path)


# --- a real run against itself ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_run(indexed_settings):
    settings = indexed_settings.model_copy(update={"answerer": "extractive"})
    return run_eval(settings, retrievers=("hybrid", "bm25"), limit=24)


def test_saved_files_reproduce_the_run(small_run, tmp_path):
    write_report(small_run, tmp_path / "a")
    saved = load_saved(tmp_path / "a")
    assert set(saved.runs) == {"hybrid", "bm25"} and set(saved.answers) == {"extractive"}
    assert saved.qrels == {q: set(d) for q, d in small_run["relevant"].items()}
    assert read_qrels(tmp_path / "a" / QRELS) == saved.qrels
    assert saved.runs["hybrid"] == {q: r for q, r in small_run["judged_runs"]["hybrid"].items() if r}
    assert saved.settings["rrf_k"] == small_run["settings"]["rrf_k"]
    assert [r["id"] for r in saved.answers["extractive"]] == [r["id"] for r in small_run["answers"]]


def test_a_run_against_its_own_saved_copy_shows_no_difference(small_run, tmp_path):
    write_report(small_run, tmp_path / "a")
    c = compare_with_saved(small_run, load_saved(tmp_path / "a"))
    assert [t["retriever"] for t in c["tests"]] == ["hybrid", "bm25"]
    for t in c["tests"]:
        assert all(row["delta"] == 0 and not row["significant"] for row in t["metrics"].values())
        assert t["changes"]["better"] == t["changes"]["worse"] == 0
    a = c["answers"]["extractive"]
    assert a["refusal_flips"] == [] and a["points_gained"] == a["points_lost"] == 0 and c["settings"] == {}


def test_the_standard_report_tests_hybrid_against_each_baseline(small_run):
    sig = small_run["significance"]
    assert [(t["control"], t["treatment"]) for t in sig["tests"]] == [("bm25", "hybrid")]
    row = sig["tests"][0]["metrics"]["nDCG@10"]
    assert row["delta"] == pytest.approx(
        small_run["retrievers"]["hybrid"]["nDCG@10"] - small_run["retrievers"]["bm25"]["nDCG@10"], abs=1e-3
    )
    assert 0 <= row["p_adjusted"] <= 1 and set(sig["tests"][0]["metrics"]) == set(MEASURES)


# --- the command line: --report a/, then --set ... --report b/ --against a/ --------------------------
def test_against_a_saved_report_on_the_command_line(indexed_settings, tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "cli", "--db", indexed_settings.db, "eval", "--retriever", "all", "--limit", "20"]
        return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=600)

    first = cli("--report", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr[-2000:]
    second = cli(
        "--set",
        "rrf_k=60",
        "--report",
        str(tmp_path / "b"),
        "--against",
        str(tmp_path / "a"),
        "--json",
        str(tmp_path / "b.json"),
    )
    assert second.returncode == 0, second.stderr[-2000:]
    out = second.stdout
    default = Settings.model_fields["rrf_k"].default
    assert f"against {tmp_path / 'a'}" in out and "adj. p" in out and f"settings changed: rrf_k {default} → 60" in out
    assert "questions better" in out and "answers (extractive)" in out
    md = (tmp_path / "b" / "report.md").read_text()
    assert "## Compared with" in md and "![per-question deltas](compare.png)" in md and "| hybrid | nDCG@10 |" in md
    assert (tmp_path / "b" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "b.json").read_text())
    assert {"retrievers", "refusal", "citations_valid", "answer_points", "per_kind"} <= set(summary)
    comparison = summary["comparison"]
    assert comparison["settings"] == {"rrf_k": {"before": default, "after": 60}} and summary["overrides"] == {
        "rrf_k": 60
    }
    assert {t["retriever"] for t in comparison["tests"]} == {"hybrid", "dense", "bm25", "naive"}
    naive = next(t for t in comparison["tests"] if t["retriever"] == "naive")  # rrf_k does not touch it
    assert all(row["delta"] == 0 and row["p"] == 1.0 for row in naive["metrics"].values())
    assert all(0 <= row["p_adjusted"] <= 1 for t in comparison["tests"] for row in t["metrics"].values())
