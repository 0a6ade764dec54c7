"""Answerers turn a question and its numbered sources into answer text with ``[n]`` markers.

Interchangeable backends chosen by name from ``ANSWERERS``: ``extractive`` (no model) and ``llm``
(any OpenAI-compatible chat server, including the bundled local model). ``auto`` picks one.
A new backend is one class and one entry in ``ANSWERERS``.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Answerer, Draft
from .extractive import ExtractiveAnswerer

__all__ = ["ANSWERERS", "ANSWERER_NAMES", "Answerer", "Draft", "ExtractiveAnswerer", "get_answerer"]


def _llm(settings) -> Answerer:
    from .llm import LLMAnswerer  # imports langchain_openai: only when asked for

    return LLMAnswerer(settings)


def _auto(settings) -> Answerer:
    """``llm`` when a server is configured or the local model is installed, else extractive."""
    try:
        from .llm import llm_available
    except ImportError:
        return ExtractiveAnswerer()
    return _llm(settings) if llm_available(settings) else ExtractiveAnswerer()


ANSWERERS: dict[str, Callable[[object], Answerer]] = {
    "auto": _auto,
    "extractive": lambda settings: ExtractiveAnswerer(),
    "llm": _llm,
}
ANSWERER_NAMES = tuple(ANSWERERS)


def get_answerer(name: str, settings) -> Answerer:
    try:
        factory = ANSWERERS[name]
    except KeyError:
        raise ValueError(f"unknown answerer {name!r}; choose one of {', '.join(ANSWERER_NAMES)}") from None
    return factory(settings)
