"""``serve`` says, once it is ready, which answerer and model answer and which store holds how much."""

from __future__ import annotations

from assistant.chain import EpisodeAssistant
from ui.server import startup_summary


def test_summary_names_answerer_model_store_and_counts(indexed_settings, indexed_store):
    settings = indexed_settings.model_copy(update={"answerer": "extractive"})
    lines = startup_summary(settings, EpisodeAssistant(settings, store=indexed_store))
    assert lines[0] == "answerer: extractive"
    assert "none" in lines[1]
    assert lines[2] == f"store:    embedded Chroma in {settings.db}, collection 'episodes'"
    assert lines[3] == f"indexed:  1 episode, {indexed_store.count():,} chunks"


def test_summary_resolves_auto_to_the_configured_server(indexed_settings, indexed_store):
    settings = indexed_settings.model_copy(
        update={"answerer": "auto", "llm_base_url": "http://127.0.0.1:9/v1", "llm_model": "qwen-test"}
    )
    lines = startup_summary(settings, EpisodeAssistant(settings, store=indexed_store))  # connects to nothing
    assert lines[:2] == ["answerer: llm (setting: auto)", "model:    qwen-test at http://127.0.0.1:9/v1"]
