"""Answer figures per answerer: fragments, unsupported sentences, words, refusals by reason, required
points, both answerers side by side (a stub LLM here; the real one in a slow test)."""

from __future__ import annotations

import pytest

from assistant.answer import Answer, Citation
from assistant.answerers import ANSWERERS, Answerer, Draft
from eval.answers import answer_figures, refusal_figures, spans_and_fragments, unsupported_sentences, words
from eval.report import markdown
from eval.runner import run_eval
from vectorstore.embeddings import get_embeddings

SOURCE = "Okay, so I think the biggest thing that's changed is RL and language models has finally worked"


def cite(text: str, marker: int = 1, section: str = "quotes", **extra) -> Citation:
    return Citation(
        marker=marker,
        id=f"e/{section}/{marker}",
        episode_id="e",
        section=section,
        index=marker,
        text=text,
        line_start=1,
        line_end=1,
        **extra,
    )


def answer(text: str, *sources: str) -> Answer:
    return Answer("q", "q", text, False, [cite(s, n) for n, s in enumerate(sources, start=1)])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("“RL and language models has finally worked” [1]", (1, 0, 0)),  # ends where the source ends
        ("“the biggest thing that's changed” [1]", (1, 0, 0)),
        ("“he biggest thing that's changed” [1]", (1, 1, 0)),  # starts mid-word ("t|he")
        ("“RL and language models has fin” [1]", (1, 1, 0)),  # ends mid-word
        ("…so I think the biggest thi [1]", (1, 1, 0)),  # unquoted extract with an ellipsis
        ("“The biggest change is that RL works” [1]", (0, 0, 1)),  # quoted, but not what the source says
        ("RL finally works, they say [1].", (0, 0, 0)),  # a paraphrase is no span
        ("Thing: the biggest thing that's changed [1]", (1, 0, 0)),  # "Name: what the episode says"
    ],
)
def test_fragments_are_spans_cut_mid_word(text, expected):
    assert spans_and_fragments(answer(text, SOURCE)) == expected


def test_a_span_counts_against_the_source_it_cites_only():
    other = "The weather was nice."
    assert spans_and_fragments(answer("“the weather was nice” [1]", SOURCE, other)) == (0, 0, 1)
    assert spans_and_fragments(answer("“the weather was nice” [2]", SOURCE, other)) == (1, 0, 0)


def test_unsupported_sentences_as_the_guard_judges_them():
    embed = get_embeddings().embed_documents
    verbatim = answer("“RL and language models has finally worked.” [1]", SOURCE)
    assert unsupported_sentences(verbatim, embed) == (1, 0)
    announced = answer("Showing the episode's own words: “RL and language models has finally worked.” [1]", SOURCE)
    assert unsupported_sentences(announced, lambda texts: 1 / 0) == (1, 0)  # verbatim: no guard needed
    mixed = answer(
        "RL on language models has finally worked [1]. The moon is made of cheese [1]. Uncited claim.", SOURCE
    )
    assert unsupported_sentences(mixed, embed) == (3, 2)


def test_words_leave_out_markers():
    assert words("RL works [1][2]. It does [3].") == 4


def row(qid, kind, refused, reason=None, expected=None, **extra):
    return {
        "id": qid,
        "kind": kind,
        "expected_refusal": expected,
        "refused": refused,
        "reason": reason,
        "citations": [],
        "points_covered": 0,
        "points": 0,
        "words": 10,
        "seconds": 0.5,
    } | extra


def test_refusals_are_counted_per_expected_reason_and_by_the_reason_given():
    rows = [
        row("a", "unanswerable", True, "off_topic", "off_topic"),
        row("b", "unanswerable", True, "not_stated", "off_topic"),
        row("c", "unanswerable", False, None, "not_stated"),
        row("d", "unanswerable", True, "not_stated", "not_stated"),
        row("e", "factual", True, "not_stated"),
        row("f", "factual", False),
    ]
    r = refusal_figures(rows)
    assert (r["unanswerable_refused"], r["unanswerable"], r["answerable_refused"], r["answerable"]) == (3, 4, 1, 2)
    assert r["by_expected"]["off_topic"] == {"questions": 2, "refused": 2, "reasons": {"off_topic": 1, "not_stated": 1}}
    assert r["by_expected"]["not_stated"] == {"questions": 2, "refused": 1, "reasons": {"not_stated": 1}}
    assert r["answerable_reasons"] == {"not_stated": 1}


def test_answer_figures_median_p90_and_required_points():
    rows = [
        row(
            str(i),
            "factual",
            False,
            words=w,
            points_covered=1,
            points=2,
            required_covered=i % 2,
            required=1,
            spans=2,
            fragments=int(i == 0),
            sentences=2,
            unsupported=0,
            seconds=s,
        )
        for i, (w, s) in enumerate([(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0), (100, 10.0)])
    ]
    f = answer_figures(rows + [row("r", "unanswerable", True, "off_topic", words=5)])
    assert (f["words_median"], f["words_p90"]) == (30, 76)  # refusals are not answers: not counted
    assert f["answer_points"] == 0.5 and f["required_points"] == 0.4
    assert f["fragment_rate"] == 0.1 and f["unsupported_rate"] == 0.0 and f["seconds_median"] == 2.5


# --- both answerers side by side --------------------------------------------------------------------
class CuttingStub(Answerer):
    """Stands in for the LLM: quotes its first source cut mid-word, then says something no source does."""

    name = "llm"

    def answer(self, question, sources):
        text = sources[0].text
        cut = next(i for i in range(40, len(text)) if text[i - 1].isalnum() and text[i].isalnum())
        return Draft(f"“{text[:cut]}” [1]. The moon is made of green cheese [1].")


def test_answerer_all_reports_both_side_by_side(indexed_settings, monkeypatch, capsys):
    monkeypatch.setitem(ANSWERERS, "llm", lambda settings: CuttingStub())
    result = run_eval(indexed_settings, retrievers=("hybrid",), answerer="all", limit=8, progress=True)
    assert list(result["answerers"]) == ["extractive", "llm"] and result["answerer"] == "extractive"
    llm = result["answerers"]["llm"]
    rows = [r for r in result["answers_by_answerer"]["llm"] if not r["refused"]]
    # every answer: one quoted span, cut mid-word; one sentence (the moon) that no source supports
    assert rows and llm["fragment_rate"] == 1.0 and llm["spans"] == len(rows)
    assert [r["unsupported"] for r in rows] == [1] * len(rows) and 0 < llm["unsupported_rate"] < 1
    assert llm["seconds_median"] is not None and llm["words_p90"] >= llm["words_median"]
    # the halves of the bundled set are reported for each answerer
    assert set(result["splits"]) == {"tune", "test"} and set(result["splits"]["test"]["answerers"]) == {
        "extractive",
        "llm",
    }
    md = markdown(result)
    assert "| | extractive | extractive · tune | extractive · test | llm | llm · tune | llm · test |" in md
    assert "| fragment rate (spans) |" in md and "| unsupported sentences |" in md
    err = capsys.readouterr().err
    assert "hybrid" in err and "answers: llm" in err  # the progress bars, on stderr


def test_split_selects_one_half(indexed_settings):
    result = run_eval(indexed_settings, retrievers=("hybrid",), split="test", limit=6)
    assert result["split"] == "test" and result["splits"] == {}
    assert {r["split"] for r in result["answers"]} == {"test"}


@pytest.mark.slow
def test_the_real_llm_answerer_in_the_eval(indexed_settings):
    from assistant.local_model import local_model_available

    if not local_model_available():
        pytest.skip("the local model is not installed (local-llm extra)")
    settings = indexed_settings.model_copy(update={"llm_base_url": None, "local_model": None, "llm_timeout": 120.0})
    result = run_eval(settings, retrievers=("hybrid",), answerer="llm", limit=1)  # ~5-8 s an answer on 2 cores
    rows = result["answers_by_answerer"]["llm"]
    assert [r["id"] for r in rows] == ["q01"] and rows[0]["seconds"] > 0 and not rows[0]["refused"]
    figures = result["answerers"]["llm"]
    assert figures["citations_valid"] == 1.0 and figures["seconds_median"] > 0
    assert 0 <= figures["unsupported_rate"] <= 1 and 0 <= figures["fragment_rate"] <= 1


def test_a_span_reaching_the_edge_of_a_transcript_window_is_cut():
    window = (
        "re on compute than they are on humans. Otherwise, Scale AI's revenue would be $10 billion. I would be like"
    )
    c = cite(window, section="companies", transcript_position=5120)  # an entity's context window
    whole = Answer("q", "q", f"{window} [1]", False, [c])
    trimmed = Answer("q", "q", "Otherwise, Scale AI's revenue would be $10 billion. [1]", False, [c])
    assert spans_and_fragments(whole) == (1, 1, 0) and spans_and_fragments(trimmed) == (1, 0, 0)
