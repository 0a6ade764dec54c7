"""Latency of answers through the whole chain: time to the first released sentence and to the final
answer, per answerer; the bundled local model's own figures.

    >>> from benchmarks.llm_bench import bench_first_sentence, DEFAULT_QUESTIONS
    >>> bench_first_sentence(DEFAULT_QUESTIONS, "extractive")["ttfs_median_s"]     # doctest: +SKIP
    0.42

Time to first released sentence is measured from the call to ``EpisodeAssistant.stream`` to its first
``token`` event -- a sentence that passed the citation guard, the first thing a user can read -- so it
includes rewriting, retrieval, the prompt's prefill and the check. Total time runs to the ``answer``
event. The local model's server start (model load) happens in a warm-up question reported on its own
and not counted.

Run: ``python -m benchmarks.llm_bench [question ...]`` (uses the configured store).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

DEFAULT_QUESTIONS = [
    "Why is software engineering improving faster than other domains?",
    "What's different this year compared with last year when it comes to reinforcement learning on language models?",
    "What are they forecasting for AI coding agents over roughly the next twelve months?",
    "How does the learning signal in pretraining differ from the one in RL?",
    "Is a thumbs-up or thumbs-down from users a good way to train a model?",
    "If things unfold the way they describe, what ends up being the scarcest, most precious resource?",
]
WARMUP_QUESTION = "What is RL from verifiable rewards?"


def _timed_ask(assistant, question: str, answerer: str) -> dict:
    from assistant.answerers.llm import FALLBACK_NOTES  # notes: the user got the episode's words, not the model's

    started = time.perf_counter()
    first = None
    answer = None
    for event in assistant.stream(question, answerer=answerer):
        if event["type"] == "token" and first is None:
            first = time.perf_counter() - started
        elif event["type"] == "answer":
            answer = event["answer"]
    total = time.perf_counter() - started
    return {
        "question": question,
        "ttfs_s": round(first if first is not None else total, 3),
        "total_s": round(total, 3),
        "refused": answer.refused,
        "fell_back": any(n.startswith(FALLBACK_NOTES) for n in answer.notes),
        "citations": [c.id for c in answer.citations],
        "notes": list(answer.notes),
    }


def _stat(rows: list[dict], key: str, q: float) -> float | None:
    return round(float(np.percentile([r[key] for r in rows], q)), 3) if rows else None


def bench_first_sentence(questions: list[str], answerer: str, settings=None) -> dict:
    """Time to first released sentence and to the final answer (median and p95) for ``answerer``.

    ``settings`` selects the store (default: the configured one). Sentence vectors start cold; the
    warm-up question loads the models (and starts a local LLM server)."""
    from assistant.answerers.vectors import clear_cache
    from assistant.chain import EpisodeAssistant
    from vectorstore.config import load_settings

    clear_cache()  # sentence vectors of an earlier step would make these answers look faster
    assistant = EpisodeAssistant(settings or load_settings())
    if assistant.store.count() == 0:  # every question would be refused: nothing to measure
        return {"skipped": f"the store at {assistant.settings.store_label} is empty; ingest the episodes first"}
    warmup = _timed_ask(assistant, WARMUP_QUESTION, answerer)
    runs = [_timed_ask(assistant, q, answerer) for q in questions]
    answered = [r for r in runs if not r["refused"]]
    return {
        "answerer": answerer,
        "questions": len(runs),
        "answered": len(answered),
        "fell_back": sum(r["fell_back"] for r in answered),
        "warmup_total_s": warmup["total_s"],  # includes starting a local server
        "ttfs_median_s": _stat(answered, "ttfs_s", 50),
        "ttfs_p95_s": _stat(answered, "ttfs_s", 95),
        "total_median_s": _stat(answered, "total_s", 50),
        "total_p95_s": _stat(answered, "total_s", 95),
        "runs": runs,
    }


def bench_local_llm(questions: list[str], settings=None) -> dict:
    """The bundled local model (``llm_base_url`` ignored) over ``questions`` (>= 5): time to first
    released sentence and total, medians over the answered questions and over those where the
    model's own text was shown (not the fallback)."""
    if len(questions) < 5:
        raise ValueError(f"need at least 5 questions for a median, got {len(questions)}")
    from vectorstore.config import load_settings

    settings = (settings or load_settings()).model_copy(update={"llm_base_url": None})
    result = bench_first_sentence(questions, "llm", settings)
    if "skipped" in result:
        return result
    generated = [r for r in result["runs"] if not r["refused"] and not r["fell_back"]]
    result["ttfs_median_generated_s"] = _stat(generated, "ttfs_s", 50)
    result["total_median_generated_s"] = _stat(generated, "total_s", 50)
    return result


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(bench_local_llm(sys.argv[1:] or DEFAULT_QUESTIONS), indent=2))
