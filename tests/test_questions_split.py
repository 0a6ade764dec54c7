"""The question set's tune/test split and refusal reasons (eval/questions.yaml, eval/questions.py)."""

from collections import Counter
from pathlib import Path

import pytest
import yaml

from eval.questions import KINDS, QuestionFileError, load_questions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def qs():
    return load_questions()


def test_every_question_has_a_split_and_ids_are_unique(qs):
    assert all(q.split in ("tune", "test") for q in qs.questions)
    ids = [q.id for q in qs.questions]
    assert len(ids) == len(set(ids))


def test_each_kind_and_refusal_reason_is_split_in_half(qs):
    strata = Counter((q.kind, q.refusal, q.split) for q in qs.questions)
    for kind, refusal in {(q.kind, q.refusal) for q in qs.questions}:
        tune, test = strata[kind, refusal, "tune"], strata[kind, refusal, "test"]
        assert tune and test, (kind, refusal)
        assert abs(tune - test) <= 1, (kind, refusal, tune, test)
    assert {q.kind for q in qs.questions} == set(KINDS)


def test_subsets_partition_the_set(qs):
    tune, test, every = (qs.subset(s).questions for s in ("tune", "test", "all"))
    assert len(every) == len(qs.questions) == len(tune) + len(test)
    assert {q.id for q in tune}.isdisjoint(q.id for q in test)
    assert {q.split for q in tune} == {"tune"} and {q.split for q in test} == {"test"}
    with pytest.raises(ValueError, match="split 'dev'"):
        qs.subset("dev")


def test_unanswerables_carry_a_refusal_reason(qs):
    unanswerable = [q for q in qs.questions if q.kind == "unanswerable"]
    assert len(unanswerable) >= 50
    assert all(q.refusal in ("off_topic", "not_stated") for q in unanswerable)
    assert sum(q.refusal == "not_stated" for q in unanswerable) >= 40
    assert all(q.refusal is None for q in qs.questions if q.answerable)
    assert all(not (q.quotes or q.companies or q.insights or q.summary) for q in unanswerable)


def test_followups_have_history(qs):
    followups = [q for q in qs.questions if q.kind == "followup"]
    assert len(followups) >= 20
    assert all(q.history and all({"user", "assistant"} <= set(t) for t in q.history) for q in followups)


def test_labels_point_into_the_episode(qs):
    text = (ROOT / "data" / "episodes" / qs.source).read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("\n---", 1)[0].removeprefix("---"))
    sizes = {
        "quotes": len(front["quotes"]),
        "companies": len(front["companies"]),
        "insights": len(front.get("insights") or []),
    }
    for q in qs.questions:
        for section, size in sizes.items():
            assert all(0 <= i < size for i in getattr(q, section)), (q.id, section)


def test_a_file_without_split_marks_loads_whole(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(
        "source: x.txt\nquestions:\n"
        "- {id: a, question: '?', kind: factual, relevant: {quotes: [1]}}\n"
        "- {id: b, question: '?', kind: unanswerable}\n"
    )
    qs = load_questions(path)
    assert [q.split for q in qs.questions] == [None, None] and qs.questions[1].refusal is None
    for split in ("test", "tune", "all"):
        assert [q.id for q in qs.subset(split).questions] == ["a", "b"]


@pytest.mark.parametrize(
    "entry, message",
    [
        ("{id: a, question: '?', kind: factual, split: dev, relevant: {quotes: [1]}}", r"\(a\): split 'dev'"),
        ("{id: b, question: '?', kind: unanswerable, refusal: maybe}", r"\(b\): refusal 'maybe'"),
        (
            "{id: c, question: '?', kind: factual, refusal: off_topic, relevant: {quotes: [1]}}",
            r"\(c\): refusal is only for unanswerable",
        ),
    ],
)
def test_bad_split_or_refusal_names_the_question(tmp_path, entry, message):
    path = tmp_path / "q.yaml"
    path.write_text(f"source: x.txt\nquestions:\n- {entry}\n")
    with pytest.raises(QuestionFileError, match=message):
        load_questions(path)
