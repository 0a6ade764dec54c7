"""Latency of generated answers from the bundled local model, through the whole chain.

    >>> from benchmarks.llm_bench import bench_local_llm, DEFAULT_QUESTIONS
    >>> bench_local_llm(DEFAULT_QUESTIONS)["ttft_median_s"]            # doctest: +SKIP
    6.1

Time to first token is measured from the call to ``EpisodeAssistant.stream`` to its first token
event, so it includes rewriting, retrieval and the prompt's prefill; total ask time runs to the
final, guarded answer. The server's start (model load) happens in a warm-up question that is
reported on its own and not counted in the medians.

Run: ``python -m benchmarks.llm_bench [question ...]`` (uses the configured store).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

DEFAULT_QUESTIONS = [
    "Why is software engineering improving faster than other domains?",
    "What's different this year compared with last year when it comes to reinforcement learning on language models?",
    "What are they forecasting for AI coding agents over roughly the next twelve months?",
    "How does the learning signal in pretraining differ from the one in RL?",
    "Is a thumbs-up or thumbs-down from users a good way to train a model?",
    "If things unfold the way they describe, what ends up being the scarcest, most precious resource?",
]
WARMUP_QUESTION = "What is RL from verifiable rewards?"


def _timed_ask(assistant, question: str) -> dict:
    started = time.perf_counter()
    first = None
    answer = None
    for event in assistant.stream(question, answerer="llm"):
        if event["type"] == "token" and first is None:
            first = time.perf_counter() - started
        elif event["type"] == "answer":
            answer = event["answer"]
    total = time.perf_counter() - started
    fell_back = any("extractive answer" in n for n in answer.notes)
    return {
        "question": question,
        "ttft_s": round(first if first is not None else total, 3),
        "total_s": round(total, 3),
        "refused": answer.refused,
        "fell_back": fell_back,
        "citations": [c.id for c in answer.citations],
        "notes": list(answer.notes),
    }


def bench_local_llm(questions: list[str], settings=None) -> dict:
    """Median time to first token and total ask time over ``questions`` (>= 5), local model only.

    ``settings`` selects the store (default: the configured one); ``llm_base_url`` is ignored."""
    if len(questions) < 5:
        raise ValueError(f"need at least 5 questions for a median, got {len(questions)}")
    from assistant.chain import EpisodeAssistant
    from vectorstore.config import load_settings

    settings = (settings or load_settings()).model_copy(update={"llm_base_url": None})
    assistant = EpisodeAssistant(settings)
    if assistant.store.count() == 0:  # every question would be refused: nothing to measure
        return {"skipped": f"the store at {settings.store_label} is empty; ingest the episodes first"}
    warmup = _timed_ask(assistant, WARMUP_QUESTION)  # embeddings load + local server start
    runs = [_timed_ask(assistant, q) for q in questions]
    answered = [r for r in runs if not r["refused"]]
    generated = [r for r in answered if not r["fell_back"]]

    def median(key: str, rows: list[dict]) -> float | None:
        return round(statistics.median(r[key] for r in rows), 3) if rows else None

    return {
        "questions": len(runs),
        "answered": len(answered),
        "fell_back": len(answered) - len(generated),
        "warmup_total_s": warmup["total_s"],  # includes starting the server
        "ttft_median_s": median("ttft_s", answered),
        "total_median_s": median("total_s", answered),
        "ttft_median_generated_s": median("ttft_s", generated),
        "total_median_generated_s": median("total_s", generated),
        "runs": runs,
    }


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(bench_local_llm(sys.argv[1:] or DEFAULT_QUESTIONS), indent=2))
