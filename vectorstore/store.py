"""Chroma, embedded (``PersistentClient``) by default or a server (``HttpClient``) when
``chroma_url`` is set. Chunk ids are citation ids.

    >>> from vectorstore.config import load_settings
    >>> store = EpisodeStore(load_settings(db="/tmp/ea-doc-store"))
    >>> [e["episode_id"] for e in store.episodes()]  # doctest: +SKIP
    ['e8dde77376fc3016']

Crash safety: an episode is written as "delete its old chunks, add the new ones, add the overview
chunk last". The overview chunk carries the content hash, so an episode interrupted half-way has
no overview, is not seen as indexed, and is rewritten whole by the next ingest.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

import chromadb
from chromadb.config import Settings as ChromaSettings

from .chunks import SECTIONS, Chunk
from .config import Settings
from .filters import SearchFilter

_WRITE_BATCH = 256
READ_PAGE = 5000


class StoreError(RuntimeError):
    """The store cannot be reached or used; the message says which store and why."""


def make_client(settings: Settings):
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if settings.chroma_url:
            url = urlparse(settings.chroma_url)
            if not url.hostname:
                raise StoreError(f"bad Chroma server URL {settings.chroma_url!r}: expected http://HOST:PORT")
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        return chromadb.PersistentClient(path=settings.db, settings=chroma_settings)
    except StoreError:
        raise
    except Exception as e:  # chromadb raises a variety of types for an unreachable server
        raise StoreError(f"cannot open the Chroma store at {settings.store_label}: {e}") from e


@dataclass
class StoredChunk:
    """One chunk as the store holds it: plain data, whatever the backend's result shapes are."""

    id: str
    text: str
    metadata: dict
    similarity: float | None = None  # cosine similarity to the query vector (``query`` only)
    vector: list[float] | None = None  # only when asked for (``with_vectors``)


class EpisodeStore:
    """The chunk collection plus a one-record "revision" collection that changes on every write,
    so readers (BM25, other processes) know cheaply when to refresh.

    Chroma's request and result shapes stay in this class: callers pass a ``SearchFilter`` and get
    ``StoredChunk`` lists back."""

    def __init__(self, settings: Settings, client=None):
        self.settings = settings
        self.client = client or make_client(settings)
        self._open()

    def _open(self) -> None:
        try:
            self._collection = self.client.get_or_create_collection(
                self.settings.collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
            self._meta = self.client.get_or_create_collection(
                self.settings.collection + "__meta", embedding_function=None
            )
        except Exception as e:
            raise StoreError(
                f"cannot open collection {self.settings.collection!r} at {self.settings.store_label}: {e}"
            ) from e

    # --- embedding -------------------------------------------------------------------------
    @property
    def embeddings(self):
        from .embeddings import get_embeddings

        return get_embeddings()

    def embed(self, chunks: list[Chunk], on_batch: Callable[[int], None] | None = None) -> list[list[float]]:
        """Vectors of ``chunks``' embed texts, in order. Batches are formed over the chunks sorted
        by length (as sentence-transformers does within one call) so each batch pads little:
        batching in file order left ingest at ~0.6x raw encoding speed."""
        batch_size = self.settings.embed_batch_size
        size = batch_size * 4  # a few model batches per progress step
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i].embed_text))
        out: list[list[float]] = [[] for _ in chunks]
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            vectors = self.embeddings.encode([chunks[i].embed_text for i in batch], batch_size=batch_size)
            for i, vector in zip(batch, vectors):
                out[i] = vector
            if on_batch:
                on_batch(len(batch))
        return out

    # --- reading ---------------------------------------------------------------------------
    def episodes(self) -> list[dict]:
        """Overview metadata of every completely indexed episode, sorted by id."""
        overviews = self.chunks(SearchFilter(sections=("overview",)), documents=False)
        return sorted((c.metadata for c in overviews), key=lambda m: m["episode_id"])

    def episode(self, episode_id: str) -> dict | None:
        got = self._collection.get(ids=[f"{episode_id}/overview/0"], include=["metadatas"])
        return got["metadatas"][0] if got["ids"] else None

    def query(self, vector: list[float], n: int, flt: SearchFilter | None = None) -> list[StoredChunk]:
        """The ``n`` chunks nearest to ``vector`` under ``flt``, nearest first. Chroma returns
        fewer when it has fewer (no count() first: in server mode that is one more round trip)."""
        got = self._collection.query(
            query_embeddings=[vector],
            n_results=n,
            where=(flt or SearchFilter()).where(),
            include=["documents", "metadatas", "distances"],
        )
        return [
            StoredChunk(i, d, m, similarity=1.0 - dist)
            for i, d, m, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])
        ]

    def chunks(
        self,
        flt: SearchFilter | None = None,
        *,
        documents: bool = True,
        with_vectors: bool = False,
        page: int = READ_PAGE,
    ) -> list[StoredChunk]:
        """All chunks matching ``flt``, read in pages: one unbounded ``get`` over tens of thousands
        of chunks fails in Chroma ("too many SQL variables")."""
        include = ["metadatas"] + (["documents"] if documents else []) + (["embeddings"] if with_vectors else [])
        where = (flt or SearchFilter()).where()
        out: list[StoredChunk] = []
        offset = 0
        while True:
            got = self._collection.get(where=where, include=include, limit=page, offset=offset)
            out.extend(_stored(got, documents, with_vectors))
            if len(got["ids"]) < page:
                return out
            offset += page

    def get(self, ids: list[str]) -> list[StoredChunk]:
        """The chunks with these ids (those that exist), in the store's order."""
        return _stored(self._collection.get(ids=ids, include=["documents", "metadatas"]), True, False)

    def count(self) -> int:
        return self._collection.count()

    def revision(self) -> str:
        got = self._meta.get(ids=["revision"], include=["documents"])
        return got["documents"][0] if got["ids"] else ""

    # --- writing ---------------------------------------------------------------------------
    def _bump_revision(self) -> None:
        self._meta.upsert(ids=["revision"], embeddings=[[1.0]], documents=[uuid.uuid4().hex])

    def write_episode(self, episode_id: str, chunks: list[Chunk], vectors: list[list[float]], manifest: dict) -> None:
        """Replace an episode whole. ``manifest`` goes into the overview chunk's metadata."""
        overview = [i for i, c in enumerate(chunks) if c.section == "overview"]
        if overview != [len(chunks) - 1]:
            raise ValueError("an episode's chunks must end with exactly one overview chunk")
        self._delete_chunks(episode_id)
        # readers (BM25 in other processes) must drop the old chunks even if this process dies
        # before the new ones are written: otherwise they keep citing text no longer in the store
        self._bump_revision()
        for start in range(0, len(chunks), _WRITE_BATCH):
            part = slice(start, start + _WRITE_BATCH)
            batch = chunks[part]
            metadatas = [dict(c.metadata) for c in batch]
            if batch[-1].section == "overview":
                metadatas[-1].update(manifest, indexed_at=time.time())
            self._collection.upsert(
                ids=[c.id for c in batch],
                documents=[c.text for c in batch],
                embeddings=vectors[part],
                metadatas=metadatas,
            )
        self._bump_revision()

    def _delete_chunks(self, episode_id: str) -> None:
        # overview first: from here on the episode counts as not indexed
        self._collection.delete(ids=[f"{episode_id}/overview/0"])
        self._collection.delete(where={"episode_id": episode_id})

    def delete_episode(self, episode_id: str) -> None:
        self._delete_chunks(episode_id)
        self._bump_revision()

    def reset(self) -> None:
        """Drop everything (``ingest --rebuild``)."""
        for name in (self.settings.collection, self.settings.collection + "__meta"):
            try:
                self.client.delete_collection(name)
            except Exception:  # absent already
                pass
        self._open()
        self._bump_revision()

    def stray_episode_ids(self) -> set[str]:
        """Episodes with chunks but no overview: left by an interrupted write."""
        indexed = {m["episode_id"] for m in self.episodes()}
        seen = {c.metadata["episode_id"] for c in self.chunks(documents=False)}
        return seen - indexed


def _stored(got: dict, documents: bool, with_vectors: bool) -> list[StoredChunk]:
    """Chroma's column-wise ``get`` result -> one StoredChunk per record."""
    n = len(got["ids"])
    texts = got["documents"] if documents else [""] * n
    vectors = [list(map(float, v)) for v in got["embeddings"]] if with_vectors else [None] * n
    return [StoredChunk(i, t, m, vector=v) for i, t, m, v in zip(got["ids"], texts, got["metadatas"], vectors)]


def counts_from_manifest(meta: dict) -> dict[str, int]:
    return {s: int(meta.get(f"n_{s}", 0)) for s in SECTIONS}


def manifest_for(
    file: str,
    content_hash: str,
    counts: dict[str, int],
    date: str | None,
    duration: float | None,
    extra: Iterable[tuple[str, object]] = (),
) -> dict:
    md: dict = {"file": file, "content_hash": content_hash}
    md.update({f"n_{s}": n for s, n in counts.items()})
    if date:
        md["date"] = date
    if duration is not None:
        md["duration"] = float(duration)
    md.update(extra)
    return md
