"""Follow-ups keep their own subject: every word of the new question stays, "that/it/them" point at
the earlier *question* (not the earlier answer), "they" means the guests -- in the rule and in the
LLM rewrite alike."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest

from assistant.answerers.extractive import ExtractiveAnswerer
from assistant.answerers.llm import REWRITE_PROMPT, LLMAnswerer, _clean_rewrite
from assistant.chain import EpisodeAssistant
from assistant.followup import Standalone, is_followup, keeps_own_words, rewrite, shown_before, topic_of
from assistant.retriever import Hit
from assistant.text import split_sentences

from conftest import EPISODE_ID

# the issue's failing conversation
RL_QUESTION = "What has changed in the past year with RL and language models?"
RL_ANSWER = "RL on language models finally works: expert, human-level reliability given the right feedback loop [1]."
HISTORY = [{"user": RL_QUESTION, "assistant": RL_ANSWER}]
FOLLOW_UP = "by when do they expect that for coding agents?"
# what the LLM rewrite produced in the issue: built around the earlier answer, not the question
ANSWER_ANCHORED = "When do coding agents expect to achieve expert, human-level reliability?"


def test_rule_keeps_every_word_and_adds_the_earlier_question():
    standalone = rewrite(FOLLOW_UP, HISTORY)
    assert standalone.startswith(FOLLOW_UP) and RL_QUESTION in standalone
    assert keeps_own_words(standalone, FOLLOW_UP)
    assert "reliability" not in standalone  # nothing from the earlier answer


def test_pronouns_point_back_but_they_means_the_guests():
    history = [{"user": "Which company helps with immigration and visas?", "assistant": "Lighthouse [1]."}]
    assert is_followup("which companies use them?", history)  # "them": the earlier subject
    assert not is_followup("What do they predict about agents?", history)  # "they": the guests
    assert is_followup("is that what deepseek does too?", history)
    # an existential "there" points nowhere: seen in the chat, the question was searched with the
    # previous one beside it and answered with a quote about languages
    assert not is_followup("how many h100s will there be in 2028?", history)
    assert not is_followup("could there be more GPUs?", history)
    assert is_followup("what happens there?", history)
    # seen in a blind set of follow-ups: a filler word before the connective, a request for examples,
    # three words of its own beside "it"
    assert is_followup("ok but why is it so much better at coding?", history)
    assert is_followup("any concrete examples?", history)
    assert is_followup("could an AI actually win it?", history)
    assert not is_followup("examples of reward hacking?", history)
    # a choice between the two things just asked about (seen in the chat: "how is RL different from
    # pretraining" then "which one gets more compute today?" was searched alone)
    compared = [{"user": "how is RL different from pretraining", "assistant": "..."}]
    assert is_followup("which one gets more compute today?", compared)
    assert is_followup("does the latter need more data?", compared)
    assert not is_followup("which one of the guests works on interpretability?", compared)
    assert not is_followup("what do the two guests work on?", compared)


def test_a_follow_up_knows_whether_it_refers_back_to_the_earlier_subject():
    history = [{"user": "what is neuralese?", "assistant": "..."}]
    assert rewrite("is it dangerous?", history).refers_back
    assert rewrite("why?", history).refers_back
    assert rewrite("is it dangerous?", history).subject == "what is neuralese?"
    assert not rewrite("what about chain of thought?", history).refers_back  # a subject of its own


def test_a_chain_of_follow_ups_keeps_the_first_subject():
    chained = HISTORY + [{"user": "why?", "assistant": "..."}]
    assert rewrite("and for computer use?", chained) == f"and for computer use? (about: {RL_QUESTION})"


def test_the_earlier_answer_lends_words_only_to_a_follow_up_without_words_of_its_own():
    assert topic_of(HISTORY, FOLLOW_UP) == RL_QUESTION  # "coding agents": the answer stays out
    assert topic_of(HISTORY, "how so?") == (
        f"{RL_QUESTION} RL language models finally works expert human-level reliability"
    )
    only_answer = [{"user": "why?", "assistant": "Because software engineering is verifiable [1]."}]
    assert topic_of(only_answer, "and then?") == "software engineering verifiable"


def test_and_another_name_asks_the_earlier_question_of_it():
    names = {"sholto", "trenton", "openai", "deepseek", "claude"}
    earlier = [{"user": "what does sholto do?", "assistant": "..."}]
    asked = rewrite("and trenton?", earlier, names)
    assert asked == "what does trenton do?" and isinstance(asked, Standalone) and asked.typed == "and trenton?"
    deepseek = [{"user": "what do they say about DeepSeek?", "assistant": "..."}]
    assert rewrite("what about OpenAI?", deepseek, names) == "what do they say about OpenAI?"
    # not a name, several names before, or no names given: the earlier question is appended as before
    assert rewrite("what about scientific research?", earlier, names) == (
        "what about scientific research? (about: what does sholto do?)"
    )
    both = [{"user": "does sholto agree with trenton?", "assistant": "..."}]
    assert rewrite("and claude?", both, names) == "and claude? (about: does sholto agree with trenton?)"
    assert rewrite("and trenton?", earlier) == "and trenton? (about: what does sholto do?)"


def test_and_the_main_points_after_what_the_episode_is_about_is_about_the_episode():
    about = [{"user": "what is this episode about?", "assistant": "This 144-minute episode features ..."}]
    assert rewrite("and the main points?", about) == "and the main points?"
    rl = [{"user": "what do they say about RL?", "assistant": "..."}]
    assert rewrite("and the main points?", rl) == "and the main points? (about: what do they say about RL?)"


def test_the_standalone_question_remembers_the_follow_up_as_typed():
    standalone = rewrite(FOLLOW_UP, HISTORY)
    assert isinstance(standalone, Standalone) and standalone.typed == FOLLOW_UP
    assert pickle.loads(pickle.dumps(standalone)).typed == FOLLOW_UP
    assert type(rewrite("What is RLHF?", HISTORY)) is str  # not a follow-up: nothing to remember


def test_a_follow_up_without_words_of_its_own_remembers_what_was_shown():
    history = [{"user": "What has changed with RL?", "assistant": "“RL has finally worked.” [1]"}]
    assert shown_before("why?", history) == "“RL has finally worked.” [1]"
    assert shown_before("how well does it work?", history) == ""  # words of its own: the same sources may answer
    standalone = rewrite("why do they think so?", history)
    assert standalone.earlier == "“RL has finally worked.” [1]"
    assert pickle.loads(pickle.dumps(standalone)).earlier == standalone.earlier


@pytest.mark.parametrize(
    "question", ["can you give an example?", "could you elaborate?", "any more details?", "in what way?", "example?"]
)
def test_asking_for_more_without_naming_anything_is_a_follow_up(question):
    # seen in the chat: "can you give an example?" after "what is a circuit" was searched as it stands
    # and answered with an RL quote
    history = [{"user": "What is a circuit?", "assistant": "“Features across layers, all working together.” [1]"}]
    standalone = rewrite(question, history)
    assert standalone.startswith(question) and "circuit" in standalone
    assert standalone.earlier == history[0]["assistant"]  # it wants more than what was shown
    assert type(rewrite("what is an example of a verifiable reward?", history)) is str  # names its subject
    # searched by its borrowed subject only: "example" alone finds every other example of the episode
    assert standalone.own_search is None
    assert rewrite("by when?", history).own_search == "by when?"  # "when" finds dates
    assert rewrite("is that what deepseek does?", history).own_search == "is that what deepseek does?"


def test_the_extractive_answer_to_why_does_not_repeat_what_was_shown():
    shown = Hit("e/quotes/1", "RL has finally worked for language models this year.", {"section": "quotes"})
    reason = Hit("e/quotes/2", "RL works because the reward signals in coding are verifiable.", {"section": "quotes"})
    history = [
        {"user": "What has changed with RL?", "assistant": "“RL has finally worked for language models this year.” [1]"}
    ]
    answerer = ExtractiveAnswerer()
    assert "finally worked" in answerer.answer("why? (about: What has changed with RL?)", [shown, reason]).text
    text = answerer.answer(rewrite("why?", history), [shown, reason]).text
    assert "finally worked" not in text and "verifiable" in text
    # nothing else to say: the shown sentence again rather than nothing
    assert "finally worked" in answerer.answer(rewrite("why?", history), [shown]).text


def test_keeps_own_words():
    assert keeps_own_words("By when do they expect RL to work for coding agents?", FOLLOW_UP)
    assert not keeps_own_words("When will RL reach expert reliability?", FOLLOW_UP)  # lost "coding agents"


# --- the LLM rewrite --------------------------------------------------------------------------------------
def test_llm_rewrite_built_from_the_answer_is_rejected():
    assert _clean_rewrite(ANSWER_ANCHORED, FOLLOW_UP, [RL_QUESTION]) is None
    good = "By when do they expect RL on language models to work for coding agents?"
    assert _clean_rewrite(good, FOLLOW_UP, [RL_QUESTION]) == good
    assert _clean_rewrite("When will RL work?", FOLLOW_UP, [RL_QUESTION]) is None  # dropped its own subject
    # what the bundled model wrote: "they" (the guests) became the earlier question's subject
    assert (
        _clean_rewrite("When do RL and language models expect coding agents to change?", FOLLOW_UP, [RL_QUESTION])
        is None
    )


class RecordingChat:
    """A chat model that answers every prompt with ``reply`` and keeps what it was sent."""

    def __init__(self, reply: str):
        self.reply, self.sent = reply, []

    def invoke(self, messages):
        self.sent.append(messages)
        return SimpleNamespace(content=self.reply)


def test_llm_rewrite_prompt_shows_the_earlier_questions_not_the_answers():
    chat = RecordingChat("By when do they expect RL on language models to work for coding agents?")
    got = LLMAnswerer(settings=None, chat_model=chat).rewrite(FOLLOW_UP, HISTORY)
    assert got == chat.reply
    (system, prompt), (human, text) = chat.sent[0]
    assert prompt == REWRITE_PROMPT and "Keep every word" in prompt and "“they”" in prompt
    assert RL_QUESTION in text and FOLLOW_UP in text and "reliability" not in text


# --- through the chain, on the bundled episode -----------------------------------------------------------
@pytest.fixture(scope="module")
def bot(indexed_settings):
    return EpisodeAssistant(indexed_settings.model_copy(update={"answerer": "extractive"}))


COVERS = {f"{EPISODE_ID}/quotes/17", f"{EPISODE_ID}/quotes/67"}  # "by the end of this year ... a day's work"


def test_issue_follow_up_cites_the_timeline_quotes(bot):
    a = bot.ask(FOLLOW_UP, history=HISTORY)
    assert not a.refused and keeps_own_words(a.standalone_question, FOLLOW_UP)
    assert COVERS & {c.id for c in a.citations}, a.answer


def test_why_after_an_answer_tells_something_new(bot):
    # seen: "why?" after "What has changed...?" repeated the first answer's quote word for word
    first = bot.ask(HISTORY[0]["user"])
    why = bot.ask("why?", history=[{"user": HISTORY[0]["user"], "assistant": first.answer}])
    assert not why.refused and why.answer
    assert not set(split_sentences(first.answer)) & set(split_sentences(why.answer)), why.answer


def test_issue_follow_up_with_an_answer_anchored_llm_rewrite_falls_back_to_the_rule(bot):
    llm = LLMAnswerer(settings=None, chat_model=RecordingChat(ANSWER_ANCHORED))
    standalone = bot.standalone(FOLLOW_UP, HISTORY, llm)
    assert standalone == rewrite(FOLLOW_UP, HISTORY)
    assert COVERS & {h.id for h in bot.retriever.search(standalone, k=5).hits}


SPONSOR = [{"user": "Which sponsor sells enterprise features like permission management?", "assistant": "WorkOS [1]."}]
EVIL_MODEL = [{"user": "Which internal team built the deliberately broken model?", "assistant": "Model Organisms [1]."}]


def _rank(hits, wanted: str) -> int:
    ids = [h.id for h in hits]
    return ids.index(wanted) if wanted in ids else len(ids)


@pytest.mark.parametrize(
    "follow_up, history, wanted",
    [
        ("Who uses it?", SPONSOR, "companies/68"),  # "WorkOS is used by ..." (6th -> 2nd on the tune half)
        ("How did they make it misbehave?", EVIL_MODEL, "quotes/83"),  # "trained to believe it was misaligned"
    ],
)
def test_the_typed_follow_up_is_searched_beside_the_standalone_question(bot, follow_up, history, wanted):
    standalone = rewrite(follow_up, history)
    fused = bot.retriever.search(standalone, k=20)
    plain = bot.retriever.search(str(standalone), k=20)  # a plain string: the standalone question alone
    assert _rank(fused.hits, f"{EPISODE_ID}/{wanted}") < _rank(plain.hits, f"{EPISODE_ID}/{wanted}")
    assert fused.top_dense == plain.top_dense  # the refusal signal stays the standalone question's
    alone = bot.retriever.model_copy(update={"followup_weight": 0.0}).search(standalone, k=20)
    assert [h.id for h in alone.hits] == [h.id for h in plain.hits]


def test_and_the_other_guest_is_answered_about_him(bot):
    # seen: "and trenton?" after "what does sholto do?" was answered with the summary's opening paragraph
    a = bot.ask("and trenton?", history=[{"user": "what does sholto do?", "assistant": "…"}])
    assert a.standalone_question == "what does trenton do?"
    assert "Trenton's still working on Mechanistic Interpretability" in a.answer, a.answer


def test_a_model_rewrite_also_remembers_the_typed_follow_up(bot):
    good = "By when do they expect RL on language models to work for coding agents?"
    standalone = bot.standalone(FOLLOW_UP, HISTORY, LLMAnswerer(settings=None, chat_model=RecordingChat(good)))
    assert standalone == good and standalone.typed == FOLLOW_UP


@pytest.mark.slow
def test_issue_follow_up_with_the_bundled_model_keeps_its_subject(bot, monkeypatch):
    """The real LLM path: whatever the model writes, the standalone question keeps "coding agents"
    (a model rewrite that passes the checks, or the rule) and finds the timeline quotes."""
    from assistant.answerers import llm as llm_module
    from assistant.local_model import local_model_available

    if not local_model_available():
        pytest.skip("the local model is not installed (local-llm extra)")
    monkeypatch.setattr(llm_module, "REWRITE_TIMEOUT", 120.0)  # a busy machine is not what is tested
    settings = bot.settings.model_copy(update={"llm_base_url": None, "local_model": None, "llm_timeout": 120.0})
    standalone = bot.standalone(FOLLOW_UP, HISTORY, LLMAnswerer(settings))
    assert keeps_own_words(standalone, FOLLOW_UP) and "reliability" not in standalone.lower()
    assert COVERS & {h.id for h in bot.retriever.search(standalone, k=5).hits}, standalone
