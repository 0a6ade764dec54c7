"""The chat's HTML (sources as proof, markers that link to them, refusals with suggestions), the
reply's progress states, and example questions built from the index. No browser: see
test_ui_browser.py for the same things on screen."""

from __future__ import annotations

import re

import pytest

from assistant import text
from assistant.answer import Answer, Citation
from assistant.errors import QuestionError
from assistant.query import Query
from ui import render
from ui.chat import replies
from ui.examples import CURATED, FALLBACK, ExampleQuestions, episode_questions
from ui.service import Busy

from conftest import EPISODE_ID
from ui_helpers import XSS, quote_citation, write_second_episode

SUMMARY = "### 2. Key Technical Insights\n*   **RL Success:** RL <b>works</b> in *verifiable* domains.\n"


def summary_citation(marker: int = 1, **extra) -> Citation:
    section = dict(id="e/summary/2", section="summary", index=2, text=SUMMARY, line_start=20, line_end=24)
    unknown = dict(transcript_position=None, file=None, kind=None, location=None)
    labels = dict(topic="2. Key Technical Insights", title=f"Kitchen {XSS}")
    return quote_citation(marker, **(section | unknown | labels | extra))


def test_a_source_shows_what_it_is_and_where_with_markdown_rendered():
    html = render.source_html(summary_citation(), "m1")
    assert "**" not in html and "###" not in html and "*verifiable*" not in html
    assert "<strong>RL Success:</strong>" in html and "<em>verifiable</em>" in html
    assert "&lt;b&gt;works&lt;/b&gt;" in html and "<b>" not in html  # the file's own tags are text
    assert "Summary section" in html  # the kind, derived when the chain did not send one
    assert "summary section 2 · lines 20–24" in html  # the location, likewise
    assert f"Kitchen {XSS}" not in html and "Kitchen &lt;img" in html  # the episode title, escaped
    assert html.count("Key Technical Insights") == 1  # the heading is not repeated under the header
    assert 'id="m1-1"' in html


def test_a_quote_shows_kind_topic_location_and_transcript_position():
    html = render.source_html(quote_citation(), "m1")
    assert re.search(r"Speaker quote</span> · <span class=\"ea-topic\">Baking", html)
    assert "quote 17 · lines 728–736 · at transcript char 12,345" in html
    assert "<code>e/quotes/17</code>" in html and "000_e.txt" in html and "/srv/" not in html
    assert "&lt;img" in html and "<img" not in html


def test_an_entity_name_shows_without_the_word_cut_before_it():
    with_lead = render.source_html(quote_citation(section="companies", name="So Stanford", topic=None), "m1")
    assert '<span class="ea-name">Stanford</span>' in with_lead and "So Stanford" not in with_lead
    pronoun = render.source_html(quote_citation(section="companies", name="But I", topic=None), "m1")
    assert "ea-name" not in pronoun


def test_an_entity_window_shows_whole_words_with_its_cuts_marked():
    # the transcript window around a name is cut at any character: "d at spotting ... prompt is"
    window = (
        "d at spotting what beat you were on from a photo. Kelsey Piper, who I think made this viral, their prompt is"
    )
    cut = quote_citation(section="companies", name="Kelsey Piper", topic=None, text=window, transcript_position=8695)
    html = render.source_html(cut, "m1")
    assert "…at spotting what beat" in html and "their prompt…" in html
    assert ">d at" not in html and "prompt is" not in html
    # whole words at both edges (the name sits 49 characters from each), but the last sentence is cut
    whole = (
        "Douglas and Trenton Brickin, who are now both at Anthropic."
        + " Yeah, let's go. Shulta is scaling RL, Trenton's"
    )
    assert text.window_edges(whole, "Anthropic", 242) == (True, True)
    assert text.whole_words(whole, "Anthropic", 242) == whole + "…"
    # a description (no transcript position) is shown as written
    described = quote_citation(
        section="companies", name="Yudkowsky", text="Mentioned as the originator.", transcript_position=None
    )
    assert '<div class="ea-quote">Mentioned as the originator.</div>' in render.source_html(described)


def test_markers_link_to_the_sources_of_their_own_message():
    answer = Answer("q", "q", "Baking is daily [2]. It works [1]. Not a source [3].", False)
    answer.citations = [summary_citation(1), quote_citation(2)]
    html = render.answer_html(answer, message_id="m7")
    assert '<a class="ea-ref" href="#m7-2"' in html and '<a class="ea-ref" href="#m7-1"' in html
    assert 'id="m7-1"' in html and 'id="m7-2"' in html
    assert '<sup class="ea-ref">[3]</sup>' in html  # no source 3: no link to nowhere
    assert 'title="Source 2: Speaker quote, quote 17 · lines 728–736"' in html
    assert "\n" not in html  # one HTML block: markdown must not re-read it
    assert render.plain_text(html) == "Baking is daily [2]. It works [1]. Not a source [3]."
    # the same answer rendered twice (asked twice in one chat) must not share element ids
    ids = {re.search(r'href="#(ea[0-9a-f]+)-1"', render.answer_html(answer)).group(1) for _ in range(2)}
    assert len(ids) == 2


def test_a_refusal_offers_its_suggestions_as_buttons():
    refused = Answer(
        "cake?",
        "cake?",
        "Not covered: the episode doesn't discuss this.",
        True,
        reason="off_topic",
        suggestions=["What do they say about <b>RL</b>?", "  "],
    )
    html = render.answer_html(refused)
    assert "ea-notice" in html and "<details" not in html
    assert html.count('<button type="button" class="ea-suggest">') == 1  # blank suggestions dropped
    assert "What do they say about &lt;b&gt;RL&lt;/b&gt;?</button>" in html
    assert render.plain_text(html) == "Not covered: the episode doesn't discuss this."  # history: no buttons
    assert "ea-suggest" not in render.answer_html(Answer("q", "q", "Not covered.", True))


class FakeService:
    """Records when ``stream`` is first asked for an event; yields the events it is given."""

    def __init__(self, events=(), error: Exception | None = None):
        self.events, self.error, self.started = list(events), error, False

    def stream(self, query):
        self.started = True
        if self.error:
            raise self.error
        yield from self.events


def test_the_reply_shows_progress_before_any_work_then_the_stages_then_the_answer():
    final = Answer("q", "q", "Daily [1].", False, [quote_citation(1)])
    service = FakeService(
        [
            {"type": "status", "stage": "searching"},
            {"type": "status", "stage": "writing"},
            {"type": "token", "text": "Daily [1]."},
            {"type": "status", "stage": "writing"},  # a late status never hides streamed text
            {"type": "answer", "answer": final},
        ]
    )
    shown = replies(service, Query("q"))
    first = next(shown)
    assert "Searching the episode…" in first and not service.started  # shown before the service is asked
    rest = list(shown)
    assert "Searching the episode…" in rest[0]
    assert "Writing the answer…" in rest[1] and "ea-answer" not in rest[1]
    assert "Daily" in rest[2] and "ea-pending" in rest[2]
    assert len(rest) == 4 and "ea-sources" in rest[3] and "ea-progress" not in rest[3]


@pytest.mark.parametrize(
    "error, kind",
    [(QuestionError("empty"), "ea-error"), (Busy("all slots busy"), "ea-busy"), (OSError(), "ea-error")],
)
def test_a_failed_reply_says_so(error, kind):
    shown = list(replies(FakeService(error=error), Query("q")))
    assert "Searching" in shown[0] and kind in shown[-1] and len(shown) == 2


# --- example questions ------------------------------------------------------------------------


def test_examples_come_from_the_indexed_episodes(indexed_store):
    questions = ExampleQuestions(indexed_store).current()
    assert 4 <= len(questions) <= 5
    assert questions[: len(CURATED[EPISODE_ID])] == list(CURATED[EPISODE_ID][:5])
    generated = episode_questions(indexed_store, EPISODE_ID)
    assert "What do they say about RL success in verifiable domains?" in generated  # from its summary


def test_examples_follow_the_index(writable_store_settings, tmp_path):
    from vectorstore.ingest import ingest
    from vectorstore.store import EpisodeStore

    store = EpisodeStore(writable_store_settings)
    examples = ExampleQuestions(store)
    before = examples.current()
    assert not any("steam" in q.lower() for q in before)
    assert [r.status for r in ingest([write_second_episode(tmp_path / "new")], store, progress=False)] == ["added"]
    after = examples.current()
    assert "What do they say about steam injection matters?" in after  # episodes take turns
    assert after[0] == CURATED[EPISODE_ID][0]
    store.delete_episode(EPISODE_ID)
    alone = examples.current()
    assert not set(alone) & set(CURATED[EPISODE_ID])  # the bundled questions only while it is indexed
    assert alone[0] == "What do they say about steam injection matters?"


def test_examples_survive_a_store_that_is_down():
    class Down:
        def episodes(self):
            raise ConnectionError("store down")

    assert ExampleQuestions(Down()).current() == FALLBACK
