"""Questions about the whole episode ("what is it about?", "key takeaways?", "who are the guests?")
are answered from the episode's summary in its own order; questions with a subject are not."""

from __future__ import annotations

import pytest

from assistant import followup, overview
from assistant.answerers.extractive import TAKEAWAYS_WORD_BUDGET, WORD_BUDGET, ExtractiveAnswerer
from assistant.chain import EpisodeAssistant
from assistant.query import Query
from assistant.retriever import Hit

from conftest import EPISODE_ID


@pytest.mark.parametrize(
    "question, kind",
    [
        ("What is this episode about?", overview.ABOUT),
        ("what's the podcast about", overview.ABOUT),
        ("Give me the gist: what's the episode mainly about?", overview.ABOUT),
        ("Summarize the episode", overview.ABOUT),
        ("tl;dr?", overview.ABOUT),
        ("who are the guests?", overview.ABOUT),
        ("Who's on the show?", overview.ABOUT),
        ("How long is the episode?", overview.ABOUT),
        ("What do they talk about?", overview.ABOUT),
        ("What are the key takeaways?", overview.TAKEAWAYS),
        ("What are the main technical takeaways?", overview.TAKEAWAYS),
        ("main points?", overview.TAKEAWAYS),
        ("when was this recorded", overview.DATE),
        ("what's the release date?", overview.DATE),
        ("whats the biggest takeaway", overview.TAKEAWAYS),  # seen refused as off topic in the chat
        ("whos on the podcast", overview.ABOUT),
        # seen answered with a quote about circuit features "working together"
        ("Who are the two guests on this episode and what does each work on?", overview.ABOUT),
        ("what do the two guests work on?", overview.ABOUT),
    ],
)
def test_overview_questions(question, kind):
    assert overview.intent(question) == kind


@pytest.mark.parametrize(
    "question",
    [
        "Who is the host of the show?",  # no overview cue: a "not stated" refusal, not the summary
        "What does the summary say about DeepSeek?",  # a subject to search for
        "main points about interpretability?",
        "What do they say about the long time-horizon problem?",
        "How long until agents do a day of work?",
        "When was GPT-4 released?",
        "When will AI do a day of software engineering work?",
        "Which companies and people does the recap single out?",
        "how does RL work?",
        "what do the guests do for a living?",  # the episode never says: a not-stated refusal
    ],
)
def test_questions_with_a_subject_are_not_overview_questions(question):
    assert overview.intent(question) is None


def _summary(index: int, text: str) -> Hit:
    return Hit(f"e/summary/{index}", text, {"section": "summary", "index": index})


SUMMARY = [
    _summary(0, "## Podcast Summary: RL\n\nThis 90-minute episode features Ann and Bo on RL. They revisit last year."),
    _summary(1, "### 1. Focus Area\nThe primary focus is RL from verifiable rewards. It covers agents."),
    _summary(
        2,
        "### 2. Key Technical Insights\n\n*   **RL works:** RL now reaches expert reliability. More detail here.\n\n"
        "*   **Context:** The bottleneck is context now. Also memory.",
    ),
    _summary(3, "### 3. Business/Investment Angle\n\n*   **Agents:** Coding agents will be common by 2026."),
]


def test_about_leads_with_the_opening_paragraph_then_the_focus():
    quote = Hit("e/quotes/1", "Something a speaker said about RL and the episode.", {"section": "quotes"})
    # the search's order does not matter: the summary is read in its own order
    text = ExtractiveAnswerer().answer("What is this episode about?", [quote, *reversed(SUMMARY)]).text
    assert text.startswith("This 90-minute episode features Ann and Bo on RL [5].")
    assert "The primary focus is RL from verifiable rewards [4]." in text
    assert "speaker" not in text and "Key Technical" not in text


def test_who_and_how_long_get_only_the_opening_paragraph():
    text = ExtractiveAnswerer().answer("Who are the guests?", SUMMARY).text
    assert "Ann and Bo" in text and "primary focus" not in text


def _window(index: int, name: str, text: str) -> Hit:
    return Hit(f"e/companies/{index}", text, {"section": "companies", "name": name, "transcript_position": 9})


def test_who_is_someone_adds_what_the_speakers_say_of_them():
    only_names = _window(1, "Bo Lee", "me. But we had Ann Smith and Bo Lee. Ann Smith and Bo Lee, who a")
    role = _window(
        4,
        "Mechanistic Interpretability",
        "ow. Ann is scaling RL, Bo's still working on Mechanistic Interpretability. We",
    )
    text = ExtractiveAnswerer().answer("who is bo?", [*SUMMARY, only_names, role]).text
    assert text.startswith("This 90-minute episode features Ann and Bo on RL [1].")
    assert text.endswith(
        "Mechanistic Interpretability: “…Ann is scaling RL, Bo's still working on Mechanistic Interpretability.” [6]"
    )
    assert "Ann Smith and Bo Lee" not in text
    # no one named: the opening alone
    assert ExtractiveAnswerer().answer("Who are the guests?", [*SUMMARY, role]).text.endswith("[1].")


def test_takeaways_are_the_first_sentence_of_each_point_of_the_closest_section():
    answerer = ExtractiveAnswerer()
    technical = answerer.answer("What are the key technical takeaways?", SUMMARY).text
    assert technical == "RL works: RL now reaches expert reliability [3]. Context: The bottleneck is context now [3]."
    business = answerer.answer("What are the business takeaways?", SUMMARY).text
    assert business == "Agents: Coding agents will be common by 2026 [4]."


def test_summaries_of_two_episodes_are_not_mixed_into_one_overview():
    # the chain answers "this episode" from a summary only when it knows which episode; an answerer
    # given two episodes' summaries by a search must not stitch their openings together
    a = Hit(
        "a/summary/0", "This episode features Ann on batteries.", {"section": "summary", "index": 0, "episode_id": "a"}
    )
    b = Hit("b/summary/0", "This episode features Bo on RL.", {"section": "summary", "index": 0, "episode_id": "b"})
    text = ExtractiveAnswerer().answer("What is this episode about?", [a, b]).text
    assert not ("Ann" in text and "Bo" in text), text


def test_an_overview_question_without_a_summary_is_answered_as_usual():
    quote = Hit("e/quotes/1", "This episode is about RL finally working for language models.", {"section": "quotes"})
    assert ExtractiveAnswerer().answer("What is this episode about?", [quote]).text.startswith("“This episode")


@pytest.fixture(scope="module")
def bot(indexed_settings):
    return EpisodeAssistant(indexed_settings.model_copy(update={"answerer": "extractive"}))


def test_the_bundled_episode_about(bot):
    a = bot.ask("What is this episode about?")
    assert not a.refused
    assert [c.id for c in a.citations] == [f"{EPISODE_ID}/summary/0", f"{EPISODE_ID}/summary/1"]
    assert "Sholto Douglas and Trenton Bricken" in a.answer and "Target Audience" not in a.answer
    assert len(a.answer.split()) <= WORD_BUDGET + len(a.citations)
    assert all(bot.verify(c) for c in a.citations)


def test_the_bundled_episode_takeaways_are_not_refused(bot):
    # before: refused as off topic (no chunk is close to "key takeaways")
    a = bot.ask("What are the key takeaways?")
    assert not a.refused and a.reason is None
    assert [c.id for c in a.citations] == [f"{EPISODE_ID}/summary/2"]
    assert a.answer.startswith("RL Success in Verifiable Domains: The biggest change in the past year")
    assert "Limitation Shift from Reliability to Context/Scope" in a.answer
    assert len(a.answer.split()) <= TAKEAWAYS_WORD_BUDGET + 3


def test_a_question_with_a_subject_is_still_searched_and_refused_when_not_stated(bot):
    a = bot.ask("Who is the host of the show?")
    assert a.refused and a.reason == "not_stated"


def test_sections_without_the_summary_and_follow_ups_are_searched(bot):
    limited = bot.ask(Query("What is this episode about?", sections=("quotes",)))
    assert all(c.section == "quotes" for c in limited.citations)
    history = [{"user": "What do they say about DeepSeek?", "assistant": "They reached the frontier [1]."}]
    follow = bot.ask(Query("and the main points?", history=history))
    assert follow.standalone_question != "and the main points?"
    assert not any(c.id == f"{EPISODE_ID}/summary/2" for c in follow.citations[:1])


def test_an_overview_question_after_others_is_not_a_follow_up(bot):
    # seen in the chat: "who's on the show?" after "key takeaways?" has no content word of its own (all
    # stop words), so it was taken as a follow-up and answered with the earlier answer's subject
    history = [{"user": "key takeaways?", "assistant": "RL Success in Verifiable Domains: ... [1]."}]
    a = bot.ask(Query("who's on the show?", history=history))
    assert a.standalone_question == "who's on the show?"
    assert [c.id for c in a.citations] == [f"{EPISODE_ID}/summary/0"] and "Sholto Douglas" in a.answer
    assert followup.is_followup("and why is that?", history)  # a connective still leans on the history
    # ... unless it asks about the whole episode after a question about the whole episode
    assert not followup.is_followup("and the main points?", history)


def test_among_several_episodes_this_episode_needs_an_episode_filter(indexed_settings, tmp_path):
    import shutil

    from vectorstore.config import load_settings
    from vectorstore.ingest import ingest
    from vectorstore.store import EpisodeStore

    from conftest import ROOT

    db = tmp_path / "db"
    shutil.copytree(indexed_settings.db, db)
    settings = load_settings(db=str(db), answerer="extractive")
    [added] = ingest([ROOT / "tests" / "data" / "001_b477e2e5d0c4a9f1.txt"], EpisodeStore(settings), progress=False)
    two = EpisodeAssistant(settings)
    # "this episode" among two is either of them: searched as usual, not one episode's summary picked at random
    unscoped = two.ask("What is this episode about?")
    assert [c.id.split("/", 1)[1] for c in unscoped.citations[:2]] != ["summary/0", "summary/1"]
    scoped = two.ask(Query("What is this episode about?", episode=added.id))
    assert scoped.citations and all(c.id.startswith(f"{added.id}/summary/") for c in scoped.citations)
    assert scoped.citations[0].index == 0


def test_who_is_someone_the_summary_introduces(bot):
    # seen: "who is sholto" was refused as off topic (the transcript spells him "Shulta"; best cosine 0.28)
    a = bot.ask("who is sholto")
    assert not a.refused and [c.id for c in a.citations] == [f"{EPISODE_ID}/summary/0"]
    assert "Sholto Douglas and Trenton Bricken (both now at Anthropic)" in a.answer
    # for Trenton the speakers also say what he works on
    trenton = bot.ask("who is trenton?")
    assert "Trenton's still working on Mechanistic Interpretability" in trenton.answer, trenton.answer
    assert len(trenton.citations) == 2 and all(bot.verify(c) for c in trenton.citations)
    # someone the opening paragraph does not introduce is searched as usual
    noam = bot.ask("who is noam")
    assert noam.citations and not any(c.section == "summary" for c in noam.citations)


def test_when_did_it_come_out_is_the_front_matter_date(bot):
    # seen: "when was this recorded" was refused as off topic
    a = bot.ask("when did the episode come out?")
    assert not a.refused and a.answer == "Date: 2025-05-22 20:53:36 +0000 [1]."
    assert [c.id for c in a.citations] == [f"{EPISODE_ID}/overview/0"] and all(bot.verify(c) for c in a.citations)


@pytest.mark.parametrize(
    "said, reply",
    [
        ("hi", "Hi! Ask me anything about “{title}”: every answer cites where it comes from."),
        ("Thanks!", "You're welcome. Ask me anything else about “{title}”."),
        ("ok", "Ask me anything else about “{title}”."),
    ],
)
def test_greetings_get_a_greeting_not_a_not_covered_notice(bot, said, reply):
    a = bot.ask(said)
    title = bot.store.episode(EPISODE_ID)["title"]
    assert a.refused and a.answer == reply.format(title=title) and not a.citations and a.suggestions


def test_a_greeting_before_the_question_is_not_its_subject(bot):
    a = bot.ask("hi, who is sholto?")
    assert [c.id for c in a.citations] == [f"{EPISODE_ID}/summary/0"]
