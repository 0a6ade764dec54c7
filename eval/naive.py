"""The baseline every RAG tutorial builds: RecursiveCharacterTextSplitter(1000, 200) over the raw
file, Chroma similarity search, k=4. Its character chunks are mapped back to the episode items
whose source lines they overlap, so it is judged on the same ids as the real retrievers."""

from __future__ import annotations

import hashlib
import os
from bisect import bisect_right
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_text_splitters import RecursiveCharacterTextSplitter

from vectorstore.chunks import episode_chunks
from vectorstore.embeddings import get_embeddings
from vectorstore.episode import load_episode


def cache_dir() -> Path:
    return Path(os.environ.get("EPISODE_ASSISTANT_CACHE", Path.home() / ".cache" / "episode-assistant"))


class NaiveRetriever:
    def __init__(self, episode_file: str | Path, k: int = 4):
        self.k = k
        text = Path(episode_file).read_text(encoding="utf-8")
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        docs = splitter.create_documents([text])
        line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        for d in docs:
            start = d.metadata["start_index"]
            d.metadata["line_start"] = bisect_right(line_starts, start)
            d.metadata["line_end"] = bisect_right(line_starts, start + len(d.page_content) - 1)
        # items in file order, with their line ranges (the overview chunk spans everything: left out)
        self.items = sorted(
            (c.metadata["line_start"], c.metadata["line_end"], c.id)
            for c in episode_chunks(load_episode(episode_file))
            if c.section != "overview"
        )
        # Embedding the raw file's ~180 chunks of 1,000 characters takes 10-30 s on 2 cores, so the
        # index is kept in a cache folder keyed by the file's content and rebuilt only when it changes.
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        client = chromadb.PersistentClient(
            str(cache_dir() / "naive"), settings=ChromaSettings(anonymized_telemetry=False)
        )
        name = f"naive-{digest}"
        self.store = Chroma(client=client, collection_name=name, embedding_function=get_embeddings())
        if self.store._collection.count() != len(docs):
            client.delete_collection(name)
            self.store = Chroma.from_documents(docs, get_embeddings(), client=client, collection_name=name)
        self.chunks = len(docs)

    def search(self, question: str) -> list[str]:
        """Chunk ids of the items inside the top-k character chunks, in rank order."""
        out: list[str] = []
        for doc in self.store.similarity_search(question, k=self.k):
            lo, hi = doc.metadata["line_start"], doc.metadata["line_end"]
            for start, end, cid in self.items:
                if start <= hi and end >= lo and cid not in out:
                    out.append(cid)
        return out
