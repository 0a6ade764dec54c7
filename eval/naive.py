"""The baseline every RAG tutorial builds: RecursiveCharacterTextSplitter(1000, 200) over the raw
file, Chroma similarity search, k=4. Its character chunks are mapped back to the episode items
whose source lines they overlap, so it is judged on the same ids as the real retrievers.

Over several episode files it searches them all (or the one a question is scoped to): each file is
its own cached collection, and the nearest chunks of all of them are merged by distance, which is
what one collection holding every file would return.
"""

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

# Chroma's default HNSW search is approximate: two builds of the same file's index answered one bundled
# question differently, which a comparison of two runs then showed as a change. Searching with a beam
# wider than the file has chunks (~180 for the bundled episode) makes it exact, and so repeatable.
EXACT = {"hnsw": {"ef_search": 1000}}


def cache_dir() -> Path:
    return Path(os.environ.get("EPISODE_ASSISTANT_CACHE", Path.home() / ".cache" / "episode-assistant"))


class _NaiveFile:
    """One episode file split into character chunks, embedded in its own cached collection."""

    def __init__(self, episode_file: str | Path, client):
        text = Path(episode_file).read_text(encoding="utf-8")
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        docs = splitter.create_documents([text])
        line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        for d in docs:
            start = d.metadata["start_index"]
            d.metadata["line_start"] = bisect_right(line_starts, start)
            d.metadata["line_end"] = bisect_right(line_starts, start + len(d.page_content) - 1)
        episode = load_episode(episode_file)
        self.episode_id = episode.id
        # items in file order, with their line ranges (the overview chunk spans everything: left out)
        self.items = sorted(
            (c.metadata["line_start"], c.metadata["line_end"], c.id)
            for c in episode_chunks(episode)
            if c.section != "overview"
        )
        # Embedding the raw file's ~180 chunks of 1,000 characters takes 10-30 s on 2 cores, so the
        # index is kept in a cache folder keyed by the file's content and rebuilt only when it changes.
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        name = f"naive-exact-{digest}"
        options = dict(client=client, collection_name=name, collection_configuration=EXACT)
        self.store = Chroma(embedding_function=get_embeddings(), **options)
        if self.store._collection.count() != len(docs):
            client.delete_collection(name)
            self.store = Chroma.from_documents(docs, get_embeddings(), **options)
        self.chunks = len(docs)

    def items_in(self, line_start: int, line_end: int) -> list[str]:
        return [cid for start, end, cid in self.items if start <= line_end and end >= line_start]


class NaiveRetriever:
    def __init__(self, episode_files: str | Path | list[str | Path], k: int = 4, embeddings=None):
        self.k = k
        self.embeddings = embeddings or get_embeddings()  # the eval passes its memoised model
        paths = [episode_files] if isinstance(episode_files, (str, Path)) else list(episode_files)
        client = chromadb.PersistentClient(
            str(cache_dir() / "naive"), settings=ChromaSettings(anonymized_telemetry=False)
        )
        self.files = {f.episode_id: f for f in (_NaiveFile(p, client) for p in paths)}
        self.chunks = sum(f.chunks for f in self.files.values())

    def search(self, question: str, episode: str | None = None) -> list[str]:
        """Chunk ids of the items inside the top-k character chunks (of ``episode`` only, when
        given), in rank order."""
        files = [self.files[episode]] if episode else list(self.files.values())
        vector = self.embeddings.embed_query(question)
        found = [
            (distance, n, f, doc)
            for n, f in enumerate(files)
            for doc, distance in f.store.similarity_search_by_vector_with_relevance_scores(vector, k=self.k)
        ]
        nearest = sorted(found, key=lambda row: (row[0], row[1]))[: self.k]
        out: list[str] = []
        for _, _, f, doc in nearest:
            for cid in f.items_in(doc.metadata["line_start"], doc.metadata["line_end"]):
                if cid not in out:
                    out.append(cid)
        return out
