"""The bundled local model for real (slow: the server starts in ~5 s, an answer takes ~10 s on 2 cores).
Skipped when xllamacpp or the model parts are not installed."""

from __future__ import annotations

import pytest

from assistant.answerers.llm import LLMAnswerer
from assistant.chain import EpisodeAssistant
from assistant.local_llm import LocalLLMServer
from assistant.local_model import local_model_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not local_model_available(), reason="the local model is not installed (local-llm extra)"),
]

QUESTION = "Why is software engineering improving faster than other domains?"


@pytest.fixture(scope="module")
def local_settings(indexed_settings):
    return indexed_settings.model_copy(update={"llm_base_url": None, "local_model": None, "llm_timeout": 120.0})


def test_off_topic_question_is_refused_without_starting_the_model(local_settings, monkeypatch):
    def start(self):
        raise AssertionError("the local model was started for a refused question")

    monkeypatch.setattr(LocalLLMServer, "start", start)
    answer = EpisodeAssistant(local_settings).ask("Who won the NBA championship this year?", answerer="llm")
    assert answer.refused and answer.citations == []


def test_generated_answer_is_cited_and_verbatim(local_settings):
    bot = EpisodeAssistant(local_settings)
    events = list(bot.stream(QUESTION, answerer="llm"))
    tokens = [e["text"] for e in events if e["type"] == "token"]
    answer = events[-1]["answer"]
    assert tokens and "".join(tokens) == answer.answer  # checked sentences, streamed as they pass
    assert not answer.refused and answer.answerer == "llm"
    assert not any("LLM unavailable" in n for n in answer.notes), answer.notes
    assert any(c.id.endswith("/quotes/19") or "verifiab" in c.text.lower() for c in answer.citations), answer
    assert all(bot.verify(c) for c in answer.citations)
    assert "[1]" in answer.answer


def test_followup_rewrite_by_the_model(local_settings, monkeypatch):
    # what is tested is the model's rewrite, not its speed: on a busy machine a prompt can take
    # longer than the production cut-off, after which rewrite() rightly gives up
    import assistant.answerers.llm as llm

    monkeypatch.setattr(llm, "REWRITE_TIMEOUT", 120.0)
    history = [
        {
            "user": "What do they predict about software engineering agents?",
            "assistant": "By this time next year, agents that can do a junior engineer's day of work [1].",
        }
    ]
    rewritten = LLMAnswerer(local_settings).rewrite("and computer use?", history)
    assert rewritten is not None and rewritten.endswith("?") and "computer use" in rewritten.lower()
