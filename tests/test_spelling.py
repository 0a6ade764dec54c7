"""Names as the transcript hears them: a guest's name typed as the written analysis spells it finds
what the speakers said of them (``assistant.spelling``)."""

from __future__ import annotations

import pytest

from assistant import refusal
from assistant.chain import EpisodeAssistant
from assistant.followup import Standalone
from assistant.refusal import Lexicon
from assistant.spelling import as_heard, corrected, heard_as, typos_corrected

from conftest import EPISODE_ID

WRITTEN = "This episode features Sholto Douglas and Kelsey Piper, on a paper about agents."
SPOKEN = "Yeah, Shulta is scaling RL. And then Shulta said the Piper prompt was long. The paper is out."


@pytest.fixture(scope="module")
def lex():
    return Lexicon([WRITTEN, SPOKEN], prose=[SPOKEN])


def test_a_written_name_is_searched_as_the_speech_spells_it(lex):
    assert heard_as("sholto", lex) == "Shulta"
    assert as_heard("what does sholto work on?", lex) == "what does Shulta work on?"
    # the question as typed is searched beside it: its spelling finds the written analysis
    assert as_heard("what does sholto work on?", lex).typed == "what does sholto work on?"


def test_common_words_and_unknown_names_are_left_alone(lex):
    # "paper" sounds like "Piper", but the episode writes it as a word, not a name
    assert as_heard("what does the paper say?", lex) == "what does the paper say?"
    # a name the episode never writes is no mishearing of one it does ("shelton")
    assert as_heard("what does shelton think?", lex) == "what does shelton think?"
    assert heard_as("piper", lex) is None  # the speech writes it itself
    assert as_heard("anything", None) == "anything"


def test_a_follow_up_stays_a_follow_up(lex):
    followup = Standalone("and sholto? (about: who scales RL?)", "and sholto?", "earlier answer")
    spoken = as_heard(followup, lex)
    assert isinstance(spoken, Standalone)
    assert (str(spoken), spoken.typed, spoken.earlier) == (
        "and Shulta? (about: who scales RL?)",
        "and Shulta?",
        "earlier answer",
    )


def test_a_typo_is_corrected_to_the_episodes_word_but_an_english_word_is_not():
    lex = Lexicon(["The alignment faking paper is about a verifier, and about what happened before."])
    assert corrected("aligment", lex) == "alignment"  # a letter missing
    assert corrected("abuot", lex) == "about"  # two swapped
    assert corrected("verified", lex) is None  # one edit from "verifier", but an English word
    assert corrected("vocab", lex) is None and corrected("xylophonist", lex) is None
    # two episode words pass the lexicon's looser test; only "computer" is one edit from the typo (a blind question)
    assert corrected("compuer", Lexicon(["computer use and compute"])) == "computer"
    fixed = typos_corrected("what do they say about aligment faking?", lex)
    assert fixed == "what do they say about alignment faking?" and type(fixed) is str  # the typo is not searched
    followup = Standalone("and aligment? (about: x)", "and aligment?", "")
    assert typos_corrected(followup, lex).typed == "and alignment?"


# --- on the bundled episode, through the chain -----------------------------------------------------------
@pytest.fixture(scope="module")
def bot(indexed_settings):
    return EpisodeAssistant(indexed_settings.model_copy(update={"answerer": "extractive"}))


def test_what_a_guest_works_on_is_answered(bot):
    # seen: refused as off topic (best cosine 0.22): the transcript spells him "Shulta"
    a = bot.ask("what does sholto work on?")
    assert not a.refused, a.answer
    assert "Shulta is scaling RL, Trenton's still working on Mechanistic Interpretability" in a.answer
    assert a.citations[0].id == f"{EPISODE_ID}/companies/4" and all(bot.verify(c) for c in a.citations)
    assert a.standalone_question == "what does sholto work on?"  # shown as asked


def test_a_personal_figure_about_a_guest_is_still_not_stated(bot):
    # found now, the name no longer hides the question: the figure check reads "Shulta" as Sholto
    a = bot.ask("how old is sholto?")
    assert a.refused and a.reason == refusal.NOT_STATED, a.answer


def test_a_question_with_a_typo_is_answered_as_if_spelt_right(bot):
    # seen: "aligment faking" scored 0.44 (0.72 spelt right); on the tune questions with a letter dropped
    # from their longest word, nDCG@10 0.592 -> 0.654 and answer points 51% -> 67%
    a = bot.ask("what do they say about aligment faking?")
    assert a.standalone_question == "what do they say about alignment faking?"
    assert a.citations[0].id == f"{EPISODE_ID}/quotes/35" and "alignment faking paper" in a.answer
