"""Answerers turn a question and its numbered sources into answer text with ``[n]`` markers.

Interchangeable backends chosen by name: ``extractive`` (no model) and ``llm`` (any
OpenAI-compatible chat server, including the bundled local model).
"""
from __future__ import annotations

from .base import Answerer, Draft
from .extractive import ExtractiveAnswerer

__all__ = ["Answerer", "Draft", "ExtractiveAnswerer", "get_answerer", "ANSWERER_NAMES"]

ANSWERER_NAMES = ("auto", "extractive", "llm")


def get_answerer(name: str, settings) -> Answerer:
    """``auto`` = ``llm`` when a server is configured or the local model is installed, else extractive."""
    if name not in ANSWERER_NAMES:
        raise ValueError(f"unknown answerer {name!r}; choose one of {', '.join(ANSWERER_NAMES)}")
    if name == "extractive":
        return ExtractiveAnswerer()
    try:
        from .llm import LLMAnswerer, llm_available
    except ImportError:
        if name == "llm":
            raise
        return ExtractiveAnswerer()
    if name == "llm" or llm_available(settings):
        return LLMAnswerer(settings)
    return ExtractiveAnswerer()
