"""The chain: cited answers, verbatim citations, refusal on both sides of the threshold, follow-ups."""

import pytest

from assistant import refusal
from assistant.answerers import ExtractiveAnswerer
from assistant.chain import EpisodeAssistant, cite
from assistant.errors import QuestionError
from assistant.followup import is_followup, rewrite
from assistant.retriever import Hit

from conftest import EPISODE_ID

ON_TOPIC = [
    "What has changed in the past year with RL and language models?",
    "sample efficiency?",
    "Why does code get better faster than creative writing?",
    "How far are current models from the human brain in parameter count?",
    "What do the guests say about interpretability research at Anthropic?",
]
OFF_TOPIC = [
    "What do they say about climate policy?",
    "Can you give me a good chocolate cake recipe?",
    "What is the guests' favourite football team?",
]


@pytest.fixture(scope="module")
def bot(indexed_settings):
    return EpisodeAssistant(indexed_settings.model_copy(update={"answerer": "extractive"}))


def assert_verbatim(bot, answer):
    for c in answer.citations:
        assert bot.verify(c), c.id


def test_rl_question_cites_the_rl_quotes(bot):
    a = bot.ask(ON_TOPIC[0])
    assert not a.refused and a.answer
    cited = {c.id for c in a.citations}
    assert cited & {f"{EPISODE_ID}/quotes/{i}" for i in (16, 5, 18)}
    assert [c.marker for c in a.citations] == list(range(1, len(a.citations) + 1))
    for c in a.citations:
        assert f"[{c.marker}]" in a.answer
    assert_verbatim(bot, a)


@pytest.mark.parametrize("question", ON_TOPIC)
def test_on_topic_questions_are_answered(bot, question):
    a = bot.ask(question)
    assert not a.refused and a.citations
    assert_verbatim(bot, a)


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_questions_are_refused(bot, question):
    a = bot.ask(question)
    assert a.refused and a.citations == []
    assert "Not covered" in a.answer and "closest topics" in a.answer


def test_refusal_threshold_both_sides(indexed_settings):
    question = "sample efficiency?"
    signal = EpisodeAssistant(indexed_settings).retriever.search(question).top_dense
    margin = refusal.RESCUE_MARGIN  # just under the threshold, its words standing together in a chunk keep it
    below = EpisodeAssistant(indexed_settings.model_copy(update={"refusal_threshold": signal + margin + 0.01}))
    near = EpisodeAssistant(indexed_settings.model_copy(update={"refusal_threshold": signal + margin - 0.01}))
    above = EpisodeAssistant(indexed_settings.model_copy(update={"refusal_threshold": signal - 0.01}))
    assert below.ask(question, answerer="extractive").refused
    assert not near.ask(question, answerer="extractive").refused
    assert not above.ask(question, answerer="extractive").refused


def test_follow_up_is_rewritten_and_cites_quote_17(bot):
    history = [{"user": "What do they predict about software engineering agents?", "assistant": "..."}]
    a = bot.ask("by when?", history=history)
    assert "software engineering agents" in a.standalone_question
    # a timeline for software engineering agents: "this time next year" (17), "by the end of the year" (67),
    # "over the next six months" (122)
    assert {f"{EPISODE_ID}/quotes/{i}" for i in (17, 67, 122)} & {c.id for c in a.citations}
    assert_verbatim(bot, a)


def test_follow_up_rule():
    history = [{"user": "What do they predict about software engineering agents?", "assistant": "x"}]
    assert is_followup("by when?", history) and is_followup("And why is that?", history)
    assert is_followup("what about them?", history)
    assert not is_followup("by when?", [])
    assert not is_followup("What is sample efficiency in reinforcement learning?", history)
    assert rewrite("What is RLHF?", history) == "What is RLHF?"
    # a chain of follow-ups keeps the original subject
    chained = history + [{"user": "by when?", "assistant": "y"}]
    assert rewrite("and why?", chained) == "and why? (about: What do they predict about software engineering agents?)"


def test_question_bounds(bot):
    with pytest.raises(QuestionError) as info:
        bot.ask("x" * (bot.settings.max_question_chars + 1))
    assert info.value.status == 413
    with pytest.raises(QuestionError):
        bot.ask("   ")
    huge = [{"user": "x" * 5000, "assistant": "y" * 5000}] * 20
    with pytest.raises(QuestionError, match="history") as info:
        bot.ask("by when?", history=huge)
    assert info.value.status == 413


def test_stream_follows_the_event_contract(bot):
    events = list(bot.stream(ON_TOPIC[0]))
    kinds = [e["type"] for e in events]
    assert events[:2] == [{"type": "status", "stage": "searching"}, {"type": "status", "stage": "writing"}]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1 and set(kinds[2:-1]) == {"token"}
    answer = events[-1]["answer"]
    assert answer.citations and "".join(e["text"] for e in events if e["type"] == "token") == answer.answer
    assert bot.ask(ON_TOPIC[0]).answer == answer.answer  # ask is the stream's last event


def test_a_refusal_streams_as_one_token(bot):
    events = list(bot.stream(OFF_TOPIC[0]))
    assert [e["type"] for e in events] == ["status", "status", "token", "answer"]
    assert events[2]["text"] == events[3]["answer"].answer and events[3]["answer"].refused


@pytest.mark.parametrize(
    "options, status",
    [({"question": "  "}, 400), ({"question": "x" * 3000}, 413), ({"question": "RL?", "episode": "nope"}, 404)],
)
def test_a_bad_request_raises_before_the_first_event(bot, options, status):
    events = bot.stream(options.pop("question"), **options)
    with pytest.raises(QuestionError) as info:
        next(events)  # not a "searching" event first: an API can still answer with a real status
    assert info.value.status == status


def test_runnable(bot):
    a = bot.as_runnable().invoke({"question": ON_TOPIC[0]})
    assert not a.refused and a.citations


def test_cite_renumbers_and_drops_unknown_markers():
    sources = [Hit(f"e/quotes/{i}", f"text {i}", {"section": "quotes", "index": i}) for i in range(3)]
    text, cites = cite("First [3]. Second [1] [9]. Third [3].", sources)
    assert text == "First [1]. Second [2]. Third [1]."
    assert [(c.marker, c.id) for c in cites] == [(1, "e/quotes/2"), (2, "e/quotes/0")]


def test_extractive_answerer_is_deterministic_and_leads_with_its_best_passage():
    src = [
        Hit(
            "e/quotes/1",
            "RL from verifiable rewards has finally started to work now. Unrelated words here.",
            {"section": "quotes"},
        ),
        Hit(
            "e/summary/2",
            "## Heading\n\n* **RL:** RL from verifiable rewards drives progress in coding.",
            {"section": "summary"},
        ),
        Hit("e/quotes/9", "Something far away from all of this, about dinner.", {"section": "quotes"}),
    ]
    one = ExtractiveAnswerer().answer("Does RL work now?", src).text
    assert one == ExtractiveAnswerer().answer("Does RL work now?", src).text
    assert one.startswith("“RL from verifiable rewards has finally started to work now.” [1]")
    assert "dinner" not in one and "**" not in one and "Heading" not in one
    assert ExtractiveAnswerer().answer("q", []).text == ""
