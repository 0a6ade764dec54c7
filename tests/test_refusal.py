"""Refusal: the second signal ("is what the question asks for in the sources?"), the not-stated
answer, suggestions, and the errors for an unknown episode or a question without words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant import followup, refusal
from assistant.chain import EpisodeAssistant
from assistant.errors import QuestionError
from assistant.query import Query
from assistant.refusal import (
    Lexicon,
    Passages,
    absent_names,
    absent_property,
    absent_topic,
    absent_words,
    answer_kind,
    asked_topic,
    decide,
    figure_stated,
    measured_terms,
    unsourced_ask,
)
from assistant.retriever import BM25Index, Hit, SearchResult
from vectorstore.filters import SearchFilter

from conftest import EPISODE_ID

EPISODE_TEXT = [
    "Fast forward nine months, we go from a two-layer transformer to our Claude 3 Sonnet frontier model "
    "and fit up to 30 million features.",
    "During pre-training, the large language model was predicting the next token. It's vocabulary of, "
    "let's say, 50,000 tokens.",
    "Otherwise, Scale AI's revenue would be $10 billion.",
    "I think Grok is fine. The context window matters. Both are at Anthropic, which trains Claude. Right now "
    "there's 10 million H100 equivalents in the world. By 2028, there's going to be 100 million.",
    "RL works now: the AI can act on its own, and everyone uses GPUs. GPT-4 has too many parameters. "
    "The series of metrics from OpenAI: O1, O3. The environment is made by hand for each skill.",
]


@pytest.fixture(scope="module")
def lex():
    return Lexicon(EPISODE_TEXT)


def hit(text: str, **md) -> Hit:
    return Hit(f"e/quotes/{abs(hash(text)) % 1000}", text, {"section": "quotes", **md}, dense_score=0.6)


# --- the episode's words, in any form a question types them ------------------------------------------
@pytest.mark.parametrize(
    "word",
    ["claude", "claudes", "Sonnet", "transformers", "pretraining", "pre", "windwo", "vocab", "tokens", "h100s"],
)
def test_lexicon_finds_words_in_any_form(lex, word):
    assert lex.has(word.lower())


@pytest.mark.parametrize("word", ["stargate", "valuation", "host", "sourdough", "grpo", "vindow"])
def test_lexicon_does_not_invent_words(lex, word):
    # "valuation" is one letter from "evaluation", "vindow" from "window": typos keep their first letter
    assert not lex.has(word)


def test_a_union_of_episode_lexicons_knows_what_each_one_knows(lex):
    other = Lexicon(["In Kelsey Piper's geoguessr prompt, the model reads the window of a house."])
    both = Lexicon.union([lex, other])
    assert all(both.has(w) for w in ("geoguessr", "kelsey", "pretraining", "windwo", "vocab", "gpus"))
    assert {"piper", "claude"} <= both.names and not both.has("stargate")
    assert both.versions == lex.versions | other.versions


def test_names_are_what_the_text_capitalises(lex):
    assert {"claude", "sonnet", "anthropic", "grok"} <= lex.names
    assert "model" not in lex.names and "tokens" not in lex.names


# --- signal 1: an absent name --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question, missing",
    [
        ("do they think grok 3 is better than claude?", ["grok 3"]),
        ("Did they talk about the Stargate data center project?", ["Stargate"]),
        ("Did they discuss the EU AI Act?", ["EU"]),
        ("what's Claude's SWE-bench verified score?", ["SWE"]),
        ("What's METR's estimate?", ["METR"]),  # a name: not the start of a longer word ("metrics")
        ("how many GPUs will there be by 2030?", ["2030"]),
        ("How many parameters does GPT-5 have?", ["gpt-5"]),
    ],
)
def test_absent_names(lex, question, missing):
    assert absent_names(question, lex) == missing


@pytest.mark.parametrize(
    "question",
    [
        "How many features did they fit in Claude 3 Sonnet?",  # all there
        "What does Anthropic say about the context windwo?",  # a typo of a word it has
        "How big is the vocab in their pretraining example?",  # an abbreviation, a compound
        "What happens by 2028?",
        "Why do they think RL works now?",  # lower case common words are not names
        "Will labs hand-craft an environment for each skill?",  # a lower-case compound is no name
        "What does OpenAI's O-series tell us?",  # one letter is no name
        "How many tokens, according to them?",
    ],
)
def test_present_names_are_not_absent(lex, question):
    assert absent_names(question, lex) == []


def test_a_plural_or_possessive_before_a_number_is_the_same_name():
    assert absent_names("oceans 11 analogy?", Lexicon(["the Ocean's 11 bank heist team"])) == []
    assert absent_names("oceans 12 analogy?", Lexicon(["the Ocean's 11 bank heist team"])) == ["oceans 12"]


# --- signal 2: a factoid question with an absent word --------------------------------------------------
@pytest.mark.parametrize(
    "question, kind",
    [
        ("How much does Lighthouse charge for a visa?", "money"),
        ("What's Anthropic's latest valuation?", "money"),
        ("what percent of anthropics code is written by claude now", "percent"),
        ("whens the o3 release date", "date"),
        ("By when?", "date"),
        ("how many gym badges has claude gotten", "count"),
        ("deepseek v3 paramter count?", "count"),
        ("Who is the host of the show?", "person"),
        ("Which city was this conversation recorded in?", "place"),
        ("What's different this year compared with last year when it comes to RL?", None),
        ("How far are current models from the human brain in parameter count?", "count"),
        ("How often does someone in a normal job get feedback?", None),
        ("Why does RL work?", None),
        ("how old is trenton?", "age"),
        ("how long until models can do a full day's work?", "date"),  # when, not how long it takes
        ("how long is the episode?", "duration"),
        ("what is anthropic valued at right now", "money"),
        ("how much is a claude code subscription", "money"),
        ("how much is the scale of RL now", None),
        # a blind question: "when you build ..." opens the question, it does not ask for a date
        ("When you build a benchmark, should it focus on the best models or on a hill to climb?", None),
        ("If RL works, how soon will agents arrive?", "date"),
    ],
)
def test_answer_kind(question, kind):
    assert answer_kind(question) == kind


def test_measured_terms():
    assert measured_terms("how many bad behaviors did they plant in the evil model?") == ["bad", "behaviors"]
    assert measured_terms("How many GPUs were used to train Claude 3 Sonnet?") == ["gpus"]
    assert measured_terms("vocab size in their pretraining example?") == ["vocab"]
    assert measured_terms("If an AGI were efficient, how many could run in 2028?") == []
    # a blind question: "what month" dates an event as "when" does, so "the next six months" is no answer
    assert measured_terms("What month was their first episode together recorded last year?") == ["recorded"]
    assert measured_terms("when was GPT-4 released?") == ["released"]  # a date of that event
    assert measured_terms("what year did trenton join anthropic") == ["join"]  # not any date beside his name
    # a hyphenated compound is one of the two words: what is counted is "h100-class gpus"
    assert measured_terms("roughly how many H100-class gpus exist now?") == ["h100", "class", "gpus"]
    assert measured_terms("by when will agents do a day's work?") == []


def test_an_abbreviated_unit_is_there_when_the_episode_writes_it_out():
    lex = Lexicon(["The policy is running at like 60 hertz on the robot."])
    assert absent_words("what hz does the robot policy run at?", lex) == []
    assert absent_words("how many gb does the robot policy run at?", lex) == ["gb"]


def test_absent_words_only_from_the_users_own_question(lex):
    assert absent_words("Which city was this recorded in?", lex) == ["city", "recorded"]
    # the context a follow-up rewrite appends came from an earlier question: not checked again
    assert absent_words("who uses it? (about: Which sponsor sells permission management?)", lex) == []


# --- signal 2b: a topic asked after that the episode never names -----------------------------------------
@pytest.mark.parametrize(
    "question, topic",
    [
        ("did they talk about elon musk?", "elon musk"),
        ("Did they discuss quantum computing at all?", "quantum computing"),
        ("what do they think of the EU AI act?", "the EU AI act"),  # as typed: the refusal quotes it
        ("any thoughts on AI art and copyright?", "AI art and copyright"),
        ("whats their view on ai in healthcare", "ai in healthcare"),
        ("is there any mention of the pulitzer?", "the pulitzer"),
        ("was crypto discussed?", "crypto"),
        ("what about drug discovery?", None),  # as a follow-up, a new angle in any words
        ("what do they say about it in the episode?", "it"),
        ("Why does RL work?", None),
        ("Which companies use them?", None),
        ("how did they make it misbehave?", None),
        # blind questions: thoughts from someone, a bare "thoughts on", "does X come up"
        ("any thoughts from them on ilya's safe superintelligence startup?", "ilya's safe superintelligence startup"),
        ("thoughts on chip export controls?", "chip export controls"),
        ("does amazon's investment in anthropic come up at all", "amazon's investment in anthropic"),
        ("Why does RL come up so often?", None),
    ],
)
def test_asked_topic(question, topic):
    assert asked_topic(question) == topic


def test_a_topic_asked_after_is_absent_when_a_word_of_it_is(lex):
    assert absent_topic("did they talk about elon musk?", lex) == ["elon musk"]
    assert absent_topic("what do they say about self-driving GPUs?", lex) == ["self-driving GPUs"]
    assert absent_topic("what do they think about the context window?", lex) == []
    assert absent_topic("what do they think about flaky pretraining?", lex) == ["flaky pretraining"]
    # one new word among the episode's is usually a paraphrase: half the topic must be absent
    assert absent_topic("what do they say about flaky pretraining of transformers?", lex) == []
    # an absent word outside a topic question is a paraphrase as often as not: left to the other checks
    assert absent_topic("If flaky pretraining isn't the bottleneck, what is?", lex) == []
    # a long topic is named by its missing words
    long = "any thoughts on tokens and transformers in silent meditation retreats for monks?"
    assert absent_topic(long, lex) == ["silent", "meditation", "retreats", "monks"]


def test_a_term_asked_to_be_explained_is_a_topic(lex):
    assert refusal.asked_term("what are sparse autoencoders?") == "sparse autoencoders"
    assert refusal.asked_term("whats trenton's hometown") == "trenton's hometown"
    assert refusal.asked_term("what is the bottleneck to more compute by the end of 2028?") is None  # no term
    sources = SearchResult([hit(t) for t in EPISODE_TEXT], top_dense=0.6, top_bm25=3.0)
    term = decide(sources, 0.335, "what is neuralese?", lex)
    assert (term.reason, term.rule, term.missing) == ("not_stated", "absent_topic", ["neuralese"])
    assert not decide(sources, 0.335, "what is the context window?", lex).refused


def test_a_yes_no_question_about_a_named_thing_with_absent_words(lex):
    # "is sholto australian?": whether X is something the episode never mentions is not in it
    assert absent_property("is Claude australian?", lex) == ["australian"]
    assert absent_property("do they use ppo or grpo for Claude", lex) == ["ppo", "grpo"]
    # half the other words must be absent: one new word among the episode's is usually a paraphrase
    assert absent_property("does Claude fit flaky features?", lex) == []
    # no episode name in it: a paraphrase as often as not, left to the other checks
    assert absent_property("is pretraining flaky?", lex) == []
    assert absent_property("why is Claude australian?", lex) == []  # not a yes/no question


# --- signal 3: the figure is not in the top sources ----------------------------------------------------
def test_figure_stated_needs_the_figure_the_measured_thing_and_the_names(lex):
    sources = [hit(t) for t in EPISODE_TEXT]
    assert figure_stated("How many features did they fit in Claude 3 Sonnet?", sources, lex) is True
    assert figure_stated("How much would Scale AI's revenue be?", sources, lex) is True
    assert figure_stated("vocab size in their pretraining example?", sources, lex) is True  # "vocabulary"
    # a figure, but not for the measured thing / not beside the question's names / not of the asked kind
    assert figure_stated("How many parameters does Claude 3 Sonnet have?", sources, lex) is False
    assert figure_stated("What is Anthropic's annual revenue?", sources, lex) is False
    assert figure_stated("what percent of tokens are code?", sources, lex) is False
    assert figure_stated("Why does RL work?", sources, lex) is None


def test_a_follow_up_pointing_back_at_a_topic_the_episode_never_names(lex):
    # "what is neuralese?" was not stated; "is it dangerous?" asks about the same absent thing
    sources = SearchResult([hit(t) for t in EPISODE_TEXT], top_dense=0.6, top_bm25=3.0)
    history = [{"user": "what is neuralese?", "assistant": "The episode doesn't mention “neuralese”."}]
    follow_up = followup.rewrite("is it dangerous?", history)
    decision = decide(sources, 0.335, follow_up, lex)
    assert (decision.rule, decision.missing) == ("absent_subject", ["neuralese"])
    assert refusal.not_stated_lead(decision) == "The episode doesn't mention “neuralese”."
    # a follow-up naming its own subject is judged on it
    assert not decide(sources, 0.335, followup.rewrite("what about the context window?", history), lex).refused
    # only the topic asked about counts, not any absent word of the earlier question ("English")
    latent = [{"user": "Could models think in RL instead of English?", "assistant": "..."}]
    assert not decide(sources, 0.335, followup.rewrite("who made that?", latent), lex).refused


def test_of_three_names_one_may_go_unsaid(lex):
    # "we go from a two-layer transformer to *our* Claude 3 Sonnet ... 30 million features" (a blind question)
    sources = [hit(t) for t in EPISODE_TEXT]
    assert figure_stated("how many features did Anthropic fit on Claude 3 Sonnet?", sources, lex) is True
    assert figure_stated("how many features did Grok fit on Sonnet?", sources, lex) is False  # of two, none


def test_the_actual_figure_is_not_a_supposed_one(lex):
    # "Otherwise, Scale AI's revenue would be $10 billion" supposes; it does not state the revenue
    sources = [hit(t) for t in EPISODE_TEXT]
    assert figure_stated("How much would Scale AI's revenue be?", sources, lex) is True
    assert figure_stated("what is Scale AI's actual revenue?", sources, lex) is False
    assert figure_stated("whats the real revenue of Scale AI", sources, lex) is False
    # a stated figure stays stated when the actual one is asked for
    assert figure_stated("how many features did they actually fit in Claude 3 Sonnet?", sources, lex) is True


def test_a_question_about_a_name_that_its_sources_say_nothing_of(lex):
    # "what's trenton's phd thesis about?": search finds the name, and nothing of what is asked
    sources = [hit(t) for t in EPISODE_TEXT]
    assert unsourced_ask("what is Grok's twitter handle?", sources, lex) == ["twitter", "handle"]
    assert unsourced_ask("what is Grok's context window?", sources, lex) == []  # the sources say
    # one word the sources lack is often the asker's own ("the Grok *version*"); none without a name
    assert unsourced_ask("what about the Grok version?", sources, lex) == []
    assert unsourced_ask("what is a twitter handle?", sources, lex) == []
    # only the sources answers are composed from count: a word in the ninth source is no help
    assert unsourced_ask("what is Grok's twitter handle?", [*sources[:1]] * 8 + [hit("a twitter handle")], lex)
    # words the episode has elsewhere ("transformer", "features"), but not where its Grok passage is
    question = "what does Grok say about transformer features?"
    decision = decide(SearchResult([sources[3]], 0.6, 3.0), 0.335, question, lex)
    assert (decision.rule, decision.missing, decision.subject) == ("unsourced", ["transformer", "features"], ["Grok"])
    assert refusal.not_stated_lead(decision) == (
        "The episode doesn't answer this directly: none of its passages about Grok mention “transformer” or “features”."
    )
    assert not decide(SearchResult(sources, 0.6, 3.0), 0.335, question, lex).refused


def test_a_name_that_is_the_measured_thing_is_not_required_beside_it():
    lex = Lexicon(["Everyone uses GPUs. Right now there's 10 million H100 equivalents in the world."])
    src = [hit("Right now there's 10 million H100 equivalents in the world.")]
    assert figure_stated("how many H100-class GPUs exist right now?", src, lex) is True
    assert figure_stated("how many GPUs exist right now?", src, lex) is False  # "GPUs" must be there


def test_a_topic_question_is_not_checked_for_a_figure(lex):
    sources = SearchResult([hit(t) for t in EPISODE_TEXT], top_dense=0.6, top_bm25=3.0)
    asked = "what do they say about how many parameters Claude 3 Sonnet has?"
    assert not decide(sources, 0.335, asked, lex).refused
    assert decide(sources, 0.335, "How many parameters does Claude 3 Sonnet have?", lex).rule == "figure"


def test_framing_words_misspelt_or_not_are_not_the_subject():
    assert refusal._content_words("how many synapses acording to them") == ["synapses"]
    assert refusal._content_words("when do they reckon agents arrive") == ["agents", "arrive"]


def test_figure_stated_reads_a_sources_description():
    # the analysis file describes quote 77 as "compared with trillions of parameters"
    lex = Lexicon(["the human brain has between 30 to 300 trillion synapses"])
    src = [hit("We estimate that the human brain has between 30 to 300 trillion synapses.", enrichment="vs parameters")]
    assert figure_stated("How far are models from the brain in parameter count?", src, lex) is True


def test_an_events_date_must_be_in_the_sentence_that_tells_of_it():
    lex = Lexicon(["GPT-4 was released in March 2023.", "They spent the next few months on compute."])
    described = [hit("They spent the next few months on compute.", enrichment="GPT-4's release came first")]
    assert figure_stated("when was GPT-4 released?", described, lex) is False
    assert figure_stated("when was GPT-4 released?", [hit("GPT-4 was released in March 2023.")], lex) is True


# --- looking past the retrieved sources: the episode's chunks by the words they hold ---------------------
@pytest.fixture(scope="module")
def passages(lex):
    ids = [f"e/quotes/{i}" for i in range(len(EPISODE_TEXT))]
    index = BM25Index(ids, EPISODE_TEXT, [{"section": "quotes", "episode_id": "e"} for _ in ids])
    return Passages(index, SearchFilter(episode="e"), lex)


def test_variants_are_the_episodes_own_spellings(lex):
    assert lex.variants("vocab") == ["vocabulary"] and lex.variants("windwo") == ["window"]
    assert lex.variants("pretraining") == ["pre training"] and lex.variants("claudes") == ["claude"]
    assert lex.variants("stargate") == []


def test_passages_find_chunks_by_the_words_they_hold(passages):
    assert [h.id for h in passages.holding_all(["vocab", "pretraining"])] == ["e/quotes/1"]
    assert passages.holding_all(["vocab", "claude"]) == []
    assert passages.respelled("vocab") and not passages.respelled("vocabulary") and not passages.respelled("xyz")
    assert [h.id for h in passages.best(["vocab", "size"], 3, required=["vocab"])] == ["e/quotes/1"]
    assert Passages(passages.index, SearchFilter(episode="other"), passages.lex).holding_all(["vocab"]) == []


def test_a_figure_behind_an_abbreviation_is_looked_up(lex, passages):
    """A question's "vocab" cannot match the episode's "vocabulary" in a search: the sources may all miss it."""
    elsewhere = SearchResult([hit(EPISODE_TEXT[0]), hit(EPISODE_TEXT[2])], top_dense=0.5, top_bm25=1.0)
    question = "how many vocab tokens in pretraining?"
    assert decide(elsewhere, 0.335, question, lex).rule == "figure"
    assert not decide(elsewhere, 0.335, question, lex, passages=passages).refused
    # no abbreviation: no lookup (a figure beside any word would be about something else)
    assert decide(elsewhere, 0.335, "How many parameters does GPT-4 have?", lex, passages=passages).rule == "figure"


def test_just_under_the_threshold_words_standing_together_keep_a_question_on_topic(lex, passages):
    sources = [hit(t) for t in EPISODE_TEXT]
    together = "vocabulary in pretraining?"
    assert not decide(SearchResult(sources, 0.31, 1.0), 0.335, together, lex, passages=passages).refused
    assert decide(SearchResult(sources, 0.31, 1.0), 0.335, together, lex).reason == "off_topic"  # without passages
    assert decide(SearchResult(sources, 0.25, 1.0), 0.335, together, lex, passages=passages).reason == "off_topic"
    apart = "vocabulary of grok?"  # both words are in the episode, never in one chunk
    assert decide(SearchResult(sources, 0.31, 1.0), 0.335, apart, lex, passages=passages).reason == "off_topic"
    # back on topic, the other checks still run: the AI, GPUs and "uses" stand together, but no count of GPUs
    figure = decide(SearchResult(sources, 0.31, 1.0), 0.335, "how many GPUs does the AI use?", lex, passages=passages)
    assert (figure.reason, figure.rule) == ("not_stated", "figure")


def test_a_name_matches_as_a_transcript_mishears_it():
    lex = Lexicon(["The viral ChatGPT geogessor capabilities: think of five different hypotheses."])
    src = [hit("The viral ChatGPT geogessor capabilities: think of five different hypotheses.")]
    lex.all_names |= {"geoguessr", "kaggle"}  # as if the analysis file named them elsewhere
    assert figure_stated("how many hypotheses does the geoguessr prompt ask for?", src, lex) is True
    assert figure_stated("how many hypotheses does the kaggle prompt ask for?", src, lex) is False


# --- the decision: order of the signals ----------------------------------------------------------------
def test_decide(lex):
    sources = SearchResult([hit(t) for t in EPISODE_TEXT], top_dense=0.6, top_bm25=3.0)
    assert decide(SearchResult(sources.hits, 0.2, 1.0), 0.335, "anything", lex).reason == "off_topic"
    assert decide(SearchResult([], 0.0, 0.0), 0.335).reason == "off_topic"
    named = decide(sources, 0.335, "Did they talk about Stargate?", lex)
    assert (named.refused, named.reason, named.rule, named.missing) == (True, "not_stated", "absent_name", ["Stargate"])
    factoid = decide(sources, 0.335, "Who is the host?", lex)
    assert (factoid.rule, factoid.kind, factoid.missing) == ("factoid_word", "person", ["host"])
    # "kicked" is the asker's verb for what was done; the episode has what it was done to (blind questions, twice)
    assert not decide(sources, 0.335, "Who kicked off the RL environment?", lex).refused
    assert decide(sources, 0.335, "Who kicked the host?", lex).missing == ["host"]
    figure = decide(sources, 0.335, "How many parameters does Claude 3 Sonnet have?", lex)
    assert (figure.rule, figure.kind, figure.missing) == ("figure", "count", ["parameters"])
    stated = decide(sources, 0.335, "How many features did they fit in Claude 3 Sonnet?", lex)
    assert not stated.refused and stated.evidence is sources.hits[0]  # what the answer leads with
    eu = decide(sources, 0.335, "any thoughts on the EU AI act?", lex)  # the topic names what is missing
    assert (eu.rule, eu.missing) == ("absent_name", ["the EU AI act"])
    topic = decide(sources, 0.335, "did they talk about elon musk?", lex)
    assert (topic.reason, topic.rule, topic.missing) == ("not_stated", "absent_topic", ["elon musk"])
    old = decide(sources, 0.335, "How old is Claude?", lex)
    assert (old.rule, old.kind) == ("figure", "age")
    assert not decide(sources, 0.335, "How many features did they fit in Claude 3 Sonnet?", lex).refused
    assert not decide(sources, 0.335, "Who is the host?").refused  # no lexicon: only the dense check
    # a figure question's absent word that is not the measured thing is often a paraphrase ("jump" for
    # "multiplier"): the figure check decides; an absent measured thing is refused as before
    assert not decide(sources, 0.335, "How many features did the Claude 3 Sonnet jump fit?", lex).refused
    valuation = decide(sources, 0.335, "What's Anthropic's latest valuation?", lex)
    assert (valuation.rule, valuation.missing) == ("factoid_word", ["valuation"])


def test_not_stated_lead_names_what_is_missing():
    def lead(rule, missing, kind=None):
        return refusal.not_stated_lead(refusal.RefusalDecision(True, 0.5, 0.3, "not_stated", rule, missing, kind))

    assert lead("absent_name", ["EU"]) == "The episode doesn't mention “EU”."
    assert lead("absent_topic", ["quantum computing"]) == "The episode doesn't mention “quantum computing”."
    assert lead("figure", [], "age") == "The episode doesn't say how old."
    assert lead("factoid_word", ["host"], "person") == "The episode doesn't say who: it never mentions “host”."
    assert lead("figure", ["employees"], "count") == (
        "The episode doesn't give that number: no passage states a figure for “employees”."
    )
    assert lead("figure", [], "money") == "The episode doesn't give that amount."
    assert lead("figure", ["join"], "date") == "The episode doesn't say when: no passage dates “join”."


# --- on the bundled episode, through the chain ---------------------------------------------------------
@pytest.fixture(scope="module")
def bot(indexed_settings):
    return EpisodeAssistant(indexed_settings.model_copy(update={"answerer": "extractive"}))


def assert_valid(bot, answer):
    assert [c.marker for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert f"[{c.marker}]" in answer.answer
        assert bot.verify(c), c.id


@pytest.mark.parametrize(
    "question, says",
    [
        ("Who is the host of the show?", "doesn't say who"),  # the example
        ("How many parameters does GPT-5 have?", "doesn't mention “gpt-5”"),
        ("What's Anthropic's latest valuation?", "doesn't give that amount"),
        ("How many GPUs were used to train Claude 3 Sonnet?", "doesn't give that number"),
        (
            "Did they talk about the Stargate data center project at all?",
            "doesn't mention “the Stargate data center project”",
        ),
        ("did they talk about elon musk?", "doesn't mention “elon musk”"),
        ("what do they think about crypto?", "doesn't mention “crypto”"),
        ("how old is trenton?", "doesn't say how old"),
        # blind questions: the sources found for the name say nothing of what is asked; a supposed figure
        ("what does kelsey piper do for a living, is she a journalist?", "passages about Kelsey Piper mention"),
        ("what is scale ai's actual annual revenue", "doesn't give that amount"),
    ],
)
def test_near_topic_question_gets_a_not_stated_answer(bot, question, says):
    a = bot.ask(question)
    assert a.refused and a.reason == "not_stated", a.answer
    assert a.answer.startswith("The episode") and says in a.answer
    assert "The closest it says:" in a.answer and a.citations  # the closest sources, cited
    assert_valid(bot, a)
    assert len(a.suggestions) == 3


def test_a_follow_up_about_what_the_episode_never_names_is_not_stated_either(bot):
    first = bot.ask("what is neuralese?")
    assert first.refused and first.reason == "not_stated"
    a = bot.ask("is it dangerous?", history=[{"user": "what is neuralese?", "assistant": first.answer}])
    assert a.refused and a.reason == "not_stated" and "“neuralese”" in a.answer, a.answer
    assert_valid(bot, a)


@pytest.mark.parametrize(
    "question",
    [
        "How much would Scale AI's revenue be if labs spent as much on people as on compute?",
        "how many weeks of gestation were in the medical diagnosis example?",
        "how many bad behaviors did they plant in the evil model?",
        "what year were sholto and trenton last on the show?",
        "How far are current models from the human brain in parameter count?",
        "vocab size in their pretraining example?",  # "vocabulary of ... 50,000 tokens" ranks 12th
        "how many hypotheses does the geoguessr prompt ask for?",  # the transcript hears "geogessor"
        "oceans 11 analogy?",  # 0.31 from every chunk, but quotes/131 word for word ("Ocean's 11")
        "did they talk about pokemon?",  # topic questions whose topic the episode names
        "what do they say about the golden gate bridge?",
        "any thoughts on the nobel prize?",
    ],
)
def test_answerable_look_alikes_are_answered(bot, question):
    a = bot.ask(question)
    assert not a.refused and a.reason is None and a.citations, a.answer


def test_off_topic_refusal_offers_real_topics_not_summary_headings(bot):
    a = bot.ask("What's a good recipe for homemade sourdough bread?")
    assert a.refused and a.reason == "off_topic" and a.citations == []
    assert len(a.suggestions) == 3 and len(set(a.suggestions)) == 3
    for heading in ("Focus Area", "Future Implications", "Notable Companies", "Target Audience", "Key Technical"):
        assert heading not in a.answer and not any(heading in s for s in a.suggestions)
    for s in a.suggestions:  # each one a question the episode answers
        assert s.endswith("?") and not bot.ask(s).refused


PROBES = Path(__file__).parent / "data" / "refusal_probes.txt"


def test_refusal_probes(bot):
    # questions written after the eval's set, four of the five sets before the rules ran on them
    # (assistant/refusal.py, third pass): measured 63/93 unanswerable and 3/101 answerable refused, then
    # 60/93 once "sholto" was searched as the transcript's "Shulta" (questions about him had been refused
    # as off topic only because his name found nothing), 61/93 with the absent property, 63/93 with terms
    # asked to be explained; answerable 3 -> 0 once a figure question's absent word must be its measured
    # thing to refuse it; 70/93 once a question about a name whose sources say nothing of what it asks is
    # not stated (fifth pass); with the blind sets 2 and 3 added (70 unanswerable, 90 answerable), 120/163
    # and 1/191 (sixth pass)
    refused = {"U": 0, "A": 0}
    asked = {"U": 0, "A": 0}
    wrongly = []
    for line in PROBES.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        label, question = line.split("|", 1)
        decision = bot.prepare(Query(question)).decision
        asked[label] += 1
        refused[label] += decision.refused
        if label == "A" and decision.refused:
            wrongly.append((question, decision.rule))
    assert asked == {"U": 163, "A": 191}
    assert refused["U"] >= 115, refused
    assert refused["A"] <= 2, wrongly


def test_a_refusal_with_nothing_to_suggest_still_answers(indexed_settings):
    # a threshold no suggestion clears: once a crash (an empty matrix of suggestion vectors)
    strict = EpisodeAssistant(indexed_settings.model_copy(update={"answerer": "extractive", "refusal_threshold": 0.99}))
    a = strict.ask("What do they say about reward hacking?")
    assert a.refused and a.reason == "off_topic" and a.suggestions == []
    assert "Not covered" in a.answer


def test_second_signal_can_be_switched_off(indexed_settings):
    off = EpisodeAssistant(indexed_settings.model_copy(update={"answerer": "extractive", "refusal_not_stated": False}))
    assert not off.ask("Who is the host of the show?").refused


def test_cli_ask_json_shows_a_not_stated_answer(indexed_settings, capsys):
    from cli.main import main

    assert main(["--db", indexed_settings.db, "ask", "What is Anthropic's annual revenue right now?", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["refused"] is True and got["reason"] == "not_stated" and got["citations"]
    assert got["answer"].startswith("The episode doesn't") and got["suggestions"]


# --- errors: an unknown episode, a question without words ----------------------------------------------
def test_unknown_episode_is_an_error_naming_it(bot):
    with pytest.raises(QuestionError, match="no-such-episode") as info:
        bot.ask("What do they say about RL?", episode="no-such-episode")
    assert info.value.status == 404
    assert not bot.ask("What do they say about RL?", episode=EPISODE_ID).refused


@pytest.mark.parametrize("question", ["???", "?!…", "🤔🤔", " - "])
def test_a_question_without_words_is_a_bad_request(bot, question):
    with pytest.raises(QuestionError, match="no words") as info:
        bot.ask(question)
    assert info.value.status == 400


def test_api_maps_the_errors(indexed_settings, bot):
    from ui.app import create_app

    client = TestClient(create_app(indexed_settings.model_copy(update={"answerer": "extractive"}), bot))
    r = client.post("/api/ask", json={"question": "What about RL?", "episode": "no-such-episode"})
    assert r.status_code == 404 and "no-such-episode" in r.json()["detail"]
    r = client.post("/api/ask", json={"question": "🤔?"})
    assert r.status_code == 400 and "no words" in r.json()["detail"]
    r = client.post("/api/ask/stream", json={"question": "What about RL?", "episode": "no-such-episode"})
    assert r.status_code == 404


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", "What about RL?", "--episode", "no-such-episode"], "unknown episode id 'no-such-episode'"),
        (["retrieve", "RL?", "--episode", "no-such-episode"], "unknown episode id 'no-such-episode'"),
        (["ask", "?!?"], "no words"),
    ],
)
def test_cli_exits_2_with_one_line(indexed_settings, capsys, args, message):
    from cli.main import main

    assert main(["--db", indexed_settings.db, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
