"""Answerers turn a question and its numbered sources into answer text with ``[n]`` markers.

Interchangeable backends chosen by name from ``ANSWERERS``: ``extractive`` (no model) and ``llm``
(any OpenAI-compatible chat server, including the bundled local model). ``auto`` picks one
(``auto_choice``).
A new backend is one class and one entry in ``ANSWERERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Answerer, Draft

__all__ = ["ANSWERERS", "ANSWERER_NAMES", "Answerer", "Draft", "ExtractiveAnswerer", "auto_choice", "get_answerer"]


def __getattr__(name: str) -> Any:
    # the backends load on first use (the extractive one pulls in retrieval, embeddings and
    # scikit-learn's stop words): `episode-assistant list` only needs the names
    if name == "ExtractiveAnswerer":
        from .extractive import ExtractiveAnswerer

        return ExtractiveAnswerer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _extractive(settings) -> Answerer:
    from .extractive import ExtractiveAnswerer

    return ExtractiveAnswerer()


def _llm(settings) -> Answerer:
    from .llm import LLMAnswerer  # imports langchain_openai: only when asked for

    return LLMAnswerer(settings)


def auto_choice(settings) -> str:
    """What ``answerer: auto`` stands for: ``llm`` when ``llm_base_url`` names a server (a model
    chosen for the job), else ``extractive``. The bundled local model is one setting away
    (``answerer: llm``) but not the default: on the eval's test half it covers fewer answer points
    than the extractive answerer and takes seconds where extractive takes milliseconds (README,
    "Answers")."""
    return "llm" if getattr(settings, "llm_base_url", None) else "extractive"


def _auto(settings) -> Answerer:
    return ANSWERERS[auto_choice(settings)](settings)


ANSWERERS: dict[str, Callable[[object], Answerer]] = {
    "auto": _auto,
    "extractive": _extractive,
    "llm": _llm,
}
ANSWERER_NAMES = tuple(ANSWERERS)


def get_answerer(name: str, settings) -> Answerer:
    try:
        factory = ANSWERERS[name]
    except KeyError:
        raise ValueError(f"unknown answerer {name!r}; choose one of {', '.join(ANSWERER_NAMES)}") from None
    return factory(settings)
