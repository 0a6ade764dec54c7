"""Eval plumbing: qrels mapping, metrics on a hand-checked example, the report writer."""

import json

import pytest

from eval.answers import point_covered
from eval.measures import aggregate, score
from eval.questions import Canonicaliser, Question, QuestionFileError, load_questions
from eval.report import write_report


def test_bundled_question_set_is_valid():
    qs = load_questions()
    kinds = [q.kind for q in qs.questions]
    assert len(qs.questions) >= 60 and kinds.count("unanswerable") >= 8 and kinds.count("followup") >= 6
    assert all(q.history for q in qs.questions if q.kind == "followup")


def test_blind_question_set_is_valid_and_one_set():
    from pathlib import Path

    qs = load_questions(Path(__file__).parent.parent / "eval" / "questions_blind.yaml")
    assert len(qs.questions) == 60 and all(q.answerable and q.answer_points for q in qs.questions)
    assert {q.split for q in qs.questions} == {None}  # no split marks: it evaluates as one set
    assert all(q.history for q in qs.questions if q.kind == "followup")


def test_qrels_mapping_summary_entities_duplicates():
    canon = Canonicaliser({"e": {25: 25, 26: 25}})
    q = Question("q", "?", "factual", quotes=[26, 3], companies=[7], insights=[0], summary=True)
    assert canon.relevant(q, "e") == {"e/quotes/25", "e/quotes/3", "e/companies/7", "e/insights/0", "e/summary"}
    # any summary section counts once; a duplicate counts at its first rank only
    assert canon.ranking(["e/summary/4", "e/quotes/25", "e/summary/1", "e/quotes/26", "e/companies/7"]) == [
        "e/summary",
        "e/quotes/25",
        "e/companies/7",
    ]


def test_metrics_on_a_hand_checked_example():
    qrels = {"a": {"e/quotes/1", "e/quotes/2"}, "b": {"e/quotes/5"}}
    runs = {"a": ["e/quotes/9", "e/quotes/1"], "b": [], "u": ["e/quotes/1"]}
    per_q = score(runs, qrels)
    # a: relevant {1, 2}; hit at rank 2 -> RR 1/2, R@5 1/2, P@5 1/5,
    #    nDCG@10 = (1/log2(3)) / (1 + 1/log2(3)) = 0.3869
    assert per_q["a"]["RR@10"] == pytest.approx(0.5)
    assert per_q["a"]["R@5"] == pytest.approx(0.5) and per_q["a"]["P@5"] == pytest.approx(0.2)
    assert per_q["a"]["nDCG@10"] == pytest.approx(0.38685, abs=1e-4)
    # b retrieved nothing: it counts as 0, it is not skipped; u has no judgements (unanswerable): not scored
    assert per_q["b"] == {m: 0.0 for m in per_q["b"]} and "u" not in per_q
    assert aggregate(per_q)["RR@10"] == pytest.approx(0.25)


def test_bad_question_file(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("source: x.txt\nquestions:\n- {id: a, question: '?', kind: factual, relevant: {}}\n")
    with pytest.raises(QuestionFileError, match="at least one relevant item"):
        load_questions(path)
    path.write_text("source: x.txt\nquestions:\n- {id: a, question: '?', kind: trivia}\n")
    with pytest.raises(QuestionFileError, match="kind 'trivia'"):
        load_questions(path)


def test_point_coverage_is_lexical_or_semantic():
    assert point_covered("verifiable rewards", "RL from verifiable rewards works [1]", [], None)
    assert not point_covered("junior engineer's day of work", "Nothing relevant here.", [], None)


def test_report_writer(tmp_path):
    m = {"nDCG@10": 0.5, "R@5": 0.4, "R@10": 0.6, "RR@10": 0.7, "P@5": 0.3}
    result = {
        "questions": "q.yaml",
        "episode_id": "e",
        "k": 10,
        "answerer": "extractive",
        "seconds": 1.0,
        "retrievers": {"hybrid": m, "naive": {k: v / 2 for k, v in m.items()}},
        "per_kind": {"factual": {"hybrid": m, "naive": m}},
        "refusal": {"unanswerable": 1, "unanswerable_refused": 1, "answerable": 1, "answerable_refused": 0},
        "citations_valid": 1.0,
        "answer_points": 0.5,
        "refusal_threshold": 0.3,
        "per_question": {"hybrid": {"a": m}},
        "runs": {"hybrid": {"a": ["e/quotes/1", "e/quotes/<b>"]}},
        "relevant": {"a": ["e/quotes/2"]},
        "answers": [{"id": "a", "kind": "factual", "question": "What?"}],
    }
    write_report(result, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| hybrid | 0.500 | 0.400 | 0.600 | 0.700 | 0.300 |" in md and "| naive | 0.250 |" in md
    assert "### factual" in md and "**a** (factual, nDCG@10 0.500): What?" in md
    assert json.loads((tmp_path / "out" / "report.json").read_text())["retrievers"]["hybrid"] == m
    png = (tmp_path / "out" / "metrics.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
