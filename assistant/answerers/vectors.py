"""Sentence vectors for the answerers and the guard: the packaged embedding model, with a cache.

Source sentences recur across questions (the same quotes come up again and again), so their vectors
are kept; a question costs one small batch of new sentences.

    >>> embed(["RL finally works.", "Coding is verifiable."]).shape
    (2, 384)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

Embed = Callable[[list[str]], Sequence[Sequence[float]]]

_cache: dict[str, np.ndarray] = {}
_CACHE_MAX = 5_000  # ~1.5 KB each
_cache_lock = threading.Lock()


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length vectors of ``texts`` (rows in the same order)."""
    from vectorstore.embeddings import get_embeddings

    with _cache_lock:
        known = {t: _cache[t] for t in texts if t in _cache}
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        fresh = dict(zip(missing, np.asarray(get_embeddings().embed_documents(missing), dtype=np.float32)))
        known.update(fresh)
        with _cache_lock:
            if len(_cache) + len(fresh) > _CACHE_MAX:
                _cache.clear()
            _cache.update(fresh)
    return unit(np.asarray([known[t] for t in texts], dtype=float).reshape(len(texts), -1))


def clear_cache() -> None:
    """Forget every vector (benchmarks measure a cold start)."""
    with _cache_lock:
        _cache.clear()


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
