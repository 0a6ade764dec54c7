"""CI gate: hybrid retrieval stays above the floors in eval/floors.yaml and beats the naive baseline,
significantly (paired test over the questions).

floors.yaml may say which half of the question set it gates (`split: test`); without it, the whole set."""

from pathlib import Path

import pytest
import yaml

from eval.runner import run_eval

FLOORS = yaml.safe_load((Path(__file__).resolve().parents[1] / "eval" / "floors.yaml").read_text())


@pytest.fixture(scope="module")
def result(indexed_settings):
    settings = indexed_settings.model_copy(update={"answerer": "extractive"})
    return run_eval(settings, retrievers=("hybrid", "naive"), split=FLOORS.get("split", "all"))


@pytest.mark.parametrize("metric", sorted(FLOORS["retrieval"]))
def test_hybrid_above_floor(result, metric):
    assert result["retrievers"]["hybrid"][metric] >= FLOORS["retrieval"][metric]


def test_hybrid_beats_naive(result):
    assert result["retrievers"]["hybrid"]["nDCG@10"] > result["retrievers"]["naive"]["nDCG@10"]
    assert result["retrievers"]["hybrid"]["RR@10"] > result["retrievers"]["naive"]["RR@10"]
    [test] = result["significance"]["tests"]
    assert (test["control"], test["treatment"]) == ("naive", "hybrid")
    assert test["metrics"]["nDCG@10"]["significant"] and test["metrics"]["RR@10"]["significant"]


def test_answer_checks(result):
    floors = FLOORS["answers"]
    assert result["citations_valid"] >= floors["citations_valid"]
    assert result["refusal"]["answerable_refused"] <= floors["max_answerable_refused"]
    assert result["refusal"]["unanswerable_refused"] >= floors["min_unanswerable_refused"]
    assert result["answer_points"] >= floors["answer_points"]
