"""Question files over many episodes: the schema (episode-named items, citation ids, scopes, source
lists, required points), the qrels per episode, and a run over two ingested episodes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eval.questions import Canonicaliser, Question, QuestionFileError, load_questions
from eval.runner import run_eval
from vectorstore.config import load_settings
from vectorstore.ingest import ingest
from vectorstore.store import EpisodeStore

from conftest import EPISODE, EPISODE_ID, ROOT

SMALL = ROOT / "tests" / "data" / "001_b477e2e5d0c4a9f1.txt"
SMALL_ID = "b477e2e5d0c4a9f1"

QUESTIONS = f"""
questions:
- id: b1
  question: "How big should a home battery be?"
  kind: factual
  episode: {SMALL_ID}
  relevant: {{quotes: [2], insights: [0]}}
  answer_points: [{{text: "size it to the evening peak", must: true}}, "most people buy one twice too big"]
- id: b2
  question: "What do a thousand home batteries dispatched together look like to the grid operator?"
  kind: factual
  relevant: [{{episode: {SMALL_ID}, quotes: [7]}}]
- id: b3
  question: "Why did the pilot switch to lithium iron phosphate cells?"
  kind: factual
  relevant: ["{SMALL_ID}/quotes/1", "{SMALL_ID}/companies/3", "{SMALL_ID}/summary/2"]
- id: e1
  question: "What has changed in the past year with RL and language models?"
  kind: factual
  relevant: {{episode: {EPISODE_ID}, quotes: [5, 16], summary: true}}
- id: e2
  question: "What are they forecasting for AI coding agents over the next twelve months?"
  kind: prediction
  episode: {EPISODE_ID}
  relevant: {{quotes: [17, 67, 122]}}
- id: x1
  question: "What's a good recipe for banana bread?"
  kind: unanswerable
  refusal: off_topic
"""


def write(tmp_path: Path, text: str, name: str = "q.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- schema -----------------------------------------------------------------------------------------
def test_relevant_items_may_name_their_episode(tmp_path):
    qs = load_questions(write(tmp_path, QUESTIONS))
    q = {q.id: q for q in qs.questions}
    assert qs.source is None and qs.sources == []
    assert q["b1"].episode == SMALL_ID and q["b1"].quotes == [2] and q["b1"].refs == []
    assert q["b1"].required_points == ["size it to the evening peak"] and len(q["b1"].answer_points) == 2
    assert q["b2"].refs == [f"{SMALL_ID}/quotes/7"] and q["b2"].episode is None
    # a summary id stands for any summary section of its episode
    assert q["b3"].refs == [f"{SMALL_ID}/quotes/1", f"{SMALL_ID}/companies/3", f"{SMALL_ID}/summary"]
    assert q["e1"].refs == [f"{EPISODE_ID}/quotes/5", f"{EPISODE_ID}/quotes/16", f"{EPISODE_ID}/summary"]


def test_qrels_per_episode_use_each_episodes_duplicate_groups():
    canon = Canonicaliser({"e": {26: 25}, "f": {7: 3}})
    q = Question("q", "?", "factual", quotes=[26], summary=True, refs=["f/quotes/7", "f/summary", "e/companies/2"])
    assert canon.relevant(q, "e") == {"e/quotes/25", "e/summary", "f/quotes/3", "f/summary", "e/companies/2"}
    # the same index means nothing across episodes: f has no group for 26, e none for 7
    assert canon.judged_id("f/quotes/26") == "f/quotes/26" and canon.judged_id("e/quotes/7") == "e/quotes/7"
    assert canon.ranking(["f/quotes/7", "f/quotes/3", "e/summary/1", "f/summary/0"]) == [
        "f/quotes/3",
        "e/summary",
        "f/summary",
    ]


def test_items_without_an_episode_belong_to_the_scope_or_the_one_source():
    q = Question("q", "?", "factual", quotes=[1])
    assert q.relevant_ids("e") == ["e/quotes/1"]
    with pytest.raises(QuestionFileError, match="name no episode"):
        q.relevant_ids(None)


@pytest.mark.parametrize(
    "source, entry, message",
    [
        ("", "{id: a, question: '?', relevant: {quotes: [1]}}", r"\(a\): its relevant items name no episode"),
        ("source: [x.txt, y.txt]\n", "{id: a, question: '?', relevant: {quotes: [1]}}", "with 2 source files"),
        ("", "{id: a, question: '?', relevant: ['e/quotes']}", "not a citation id"),
        ("", "{id: a, question: '?', relevant: ['quotes/3']}", "not a citation id"),
        ("", "{id: a, question: '?', relevant: {episode: e, quote: [1]}}", r"unknown key\(s\) quote"),
        ("", "{id: a, question: '?', relevant: {episode: e, quotes: [-1]}}", "never negative"),
        ("", "{id: a, question: '?', kind: unanswerable, relevant: ['e/quotes/1']}", "has no relevant items"),
        ("", "{id: a b, question: '?', relevant: ['e/quotes/1']}", "has a space"),
        ("", "{id: a, question: '?', relevant: ['e/quotes/1'], answer_points: [{must: true}]}", "needs 'text'"),
        ("source: 3\n", "{id: a, question: '?', relevant: ['e/quotes/1']}", "'source' is an episode file name"),
    ],
)
def test_bad_multi_episode_entries_name_the_question(tmp_path, source, entry, message):
    with pytest.raises(QuestionFileError, match=message):
        load_questions(write(tmp_path, f"{source}questions:\n- {entry}\n"))


def test_source_may_be_a_list_and_the_bundled_file_still_loads(tmp_path):
    qs = load_questions(
        write(tmp_path, "source: [a.txt, b.txt]\nquestions:\n- {id: a, question: '?', relevant: ['e/summary']}\n")
    )
    assert qs.sources == ["a.txt", "b.txt"]
    bundled = load_questions()
    assert bundled.sources == [bundled.source] and all(not q.refs and q.episode is None for q in bundled.questions)


# --- two ingested episodes -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_episodes(indexed_settings, tmp_path_factory):
    """A store holding the bundled episode and the small test episode."""
    db = tmp_path_factory.mktemp("two") / "db"
    shutil.copytree(indexed_settings.db, db)
    settings = load_settings(db=str(db), answerer="extractive")
    [result] = ingest([SMALL], EpisodeStore(settings), progress=False)
    assert result.status == "added" and result.id == SMALL_ID
    return settings


@pytest.fixture(scope="module")
def result(two_episodes, tmp_path_factory):
    path = write(tmp_path_factory.mktemp("q"), QUESTIONS)
    return run_eval(two_episodes, path, retrievers=("hybrid", "naive"))


def test_a_file_without_source_is_judged_on_the_store_as_it_is(result):
    assert set(result["episodes"]) == {EPISODE_ID, SMALL_ID} and result["episode_id"] is None
    assert result["relevant"] == {
        "b1": [f"{SMALL_ID}/insights/0", f"{SMALL_ID}/quotes/2"],
        "b2": [f"{SMALL_ID}/quotes/3"],  # quotes/7 is a near-duplicate of quotes/3 in that episode
        "b3": [f"{SMALL_ID}/companies/3", f"{SMALL_ID}/quotes/1", f"{SMALL_ID}/summary"],
        "e1": [f"{EPISODE_ID}/quotes/5", f"{EPISODE_ID}/summary"],  # quotes/16 is grouped with quotes/5
        "e2": [f"{EPISODE_ID}/quotes/122", f"{EPISODE_ID}/quotes/17", f"{EPISODE_ID}/quotes/67"],
    }


def test_scoped_questions_search_only_their_episode(result):
    for retriever in ("hybrid", "naive"):
        assert result["runs"][retriever]["b1"] and all(c.startswith(SMALL_ID) for c in result["runs"][retriever]["b1"])
        assert all(c.startswith(EPISODE_ID) for c in result["runs"][retriever]["e2"])


def test_questions_across_all_episodes_find_the_right_one(result):
    hybrid = result["per_question"]["hybrid"]
    # asked across both episodes, each question's judged items come first
    assert hybrid["b2"]["RR@10"] == 1.0 and hybrid["b3"]["RR@10"] == 1.0 and hybrid["e1"]["RR@10"] == 1.0
    assert result["judged_runs"]["hybrid"]["b2"][0] == f"{SMALL_ID}/quotes/3"
    assert {c.split("/")[0] for q in ("b2", "e1") for c in result["runs"]["hybrid"][q]} == {EPISODE_ID, SMALL_ID}


def test_answers_per_episode_and_required_points(result):
    rows = {r["id"]: r for r in result["answers"]}
    assert all(c.startswith(SMALL_ID) for c in rows["b1"]["citations"])
    assert rows["x1"]["refused"] and not rows["b2"]["refused"]
    assert rows["b1"]["required"] == 1 and result["answerers"]["extractive"]["required_points"] is not None
    assert result["citations_valid"] == 1.0


def test_a_source_list_builds_a_private_store_of_those_files(tmp_path, monkeypatch):
    monkeypatch.setenv("EPISODE_ASSISTANT_CACHE", str(tmp_path / "cache"))
    path = write(
        tmp_path,
        f"source: [{EPISODE}, {SMALL}]\nquestions:\n"
        f"- {{id: b2, question: 'What do a thousand home batteries look like to the grid operator?', "
        f"relevant: ['{SMALL_ID}/quotes/3']}}\n"
        f"- {{id: e2, question: 'What do they forecast for coding agents?', episode: {EPISODE_ID}, "
        f"relevant: {{quotes: [17, 67, 122]}}}}\n",
    )
    empty = load_settings(db=str(tmp_path / "empty-db"), answerer="extractive")
    result = run_eval(empty, path, retrievers=("hybrid",))
    assert set(result["episodes"]) == {EPISODE_ID, SMALL_ID}
    assert result["per_question"]["hybrid"]["b2"]["RR@10"] == 1.0
    assert all(c.startswith(EPISODE_ID) for c in result["runs"]["hybrid"]["e2"])
    assert not Path(empty.db).exists()  # the user's store was not even created
    assert result["store"] == "a private store (ingested now)"
    # the next run of the same ingest code copies the kept store instead of embedding again
    again = run_eval(empty, path, retrievers=("hybrid",))
    assert again["store"] == "a private store (cached)" and again["per_question"] == result["per_question"]
    assert len(list((tmp_path / "cache" / "eval-stores").iterdir())) == 1


def test_an_unknown_episode_is_a_clear_error(two_episodes, tmp_path):
    from eval.corpus import EvalError

    path = write(tmp_path, "questions:\n- {id: a, question: 'RL?', episode: nope, relevant: {quotes: [1]}}\n")
    with pytest.raises(EvalError, match="episode id\\(s\\) nope are not among"):
        run_eval(two_episodes, path)


def test_the_cache_key_follows_what_the_store_depends_on():
    from eval.corpus import store_key

    s = load_settings()
    assert store_key(s, ["a", "b"]) == store_key(s, ["b", "a"])
    assert store_key(s, ["a"]) != store_key(s, ["b"])
    assert store_key(s, ["a"]) != store_key(s.model_copy(update={"embed_batch_size": 8}), ["a"])


def test_the_naive_baseline_searches_exactly(tmp_path, monkeypatch):
    """Chroma rebuilds a small collection's HNSW graph from its log in every process; an approximate
    search then answered a bundled question differently from run to run."""
    from eval.naive import NaiveRetriever

    monkeypatch.setenv("EPISODE_ASSISTANT_CACHE", str(tmp_path))
    naive = NaiveRetriever([SMALL, EPISODE])
    for f in naive.files.values():
        assert f.store._collection.configuration_json["hnsw"]["ef_search"] >= f.chunks
    assert naive.search("How big should a home battery be?", SMALL_ID)[0].startswith(SMALL_ID)


def test_a_source_beside_the_question_file_comes_first(tmp_path):
    from eval.corpus import source_file

    path = write(
        tmp_path, f"source: {EPISODE.name}\nquestions:\n- {{id: a, question: '?', relevant: {{quotes: [1]}}}}\n"
    )
    (tmp_path / EPISODE.name).write_text("my own copy", encoding="utf-8")
    assert source_file(EPISODE.name, load_questions(path), load_settings()) == (tmp_path / EPISODE.name).resolve()
