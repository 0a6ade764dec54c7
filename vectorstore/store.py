"""Chroma, embedded (``PersistentClient``) by default or a server (``HttpClient``) when
``chroma_url`` is set. Chunk ids are citation ids.

    >>> from vectorstore.config import load_settings
    >>> store = EpisodeStore(load_settings(db="/tmp/ea-doc-store"))
    >>> [e["episode_id"] for e in store.episodes()]  # doctest: +SKIP
    ['e8dde77376fc3016']

Crash safety: an episode is written as "delete its old chunks, add the new ones, add the overview
chunk last". The overview chunk carries the content hash, so an episode interrupted half-way has
no overview, is not seen as indexed, and is rewritten whole by the next ingest. Until then its
chunks are invisible to readers: ``query``, ``chunks`` and ``count`` only see episodes that have
their overview (``stray_episode_ids`` finds the others). Chroma's vector index can lose a record that
its database keeps (seen once after a kill -9 and a rewrite of the same ids): every write checks that
its chunks find themselves by vector and re-writes those that don't (``repair_vectors``), and an
ingest after one that never finished (``writer_died``) checks the whole store.

Server mode: every Chroma call gives up after ``store_timeout`` seconds (a hung server must not
hang the callers), and a collection dropped and re-created elsewhere (``ingest --rebuild`` in
another process, a server restarted with empty data) is fetched again instead of failing forever.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlparse

import chromadb
import httpx
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from .chunks import SECTIONS, Chunk
from .config import Settings
from .filters import SearchFilter

_WRITE_BATCH = 256
READ_PAGE = 5000
ID_PAGE = 1000  # ids per ``get(ids=...)``
SELF_DISTANCE = 1e-4  # a stored vector's cosine distance to itself, give or take float error
COMPLETE_CHECK_SECONDS = 1.0  # how stale the set of complete episodes may get before the revision is re-read
T = TypeVar("T")


class StoreError(RuntimeError):
    """The store cannot be reached or used; the message says which store and why."""


def make_client(settings: Settings):
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if settings.chroma_url:
            url = urlparse(settings.chroma_url)
            if not url.hostname:
                raise StoreError(f"bad Chroma server URL {settings.chroma_url!r}: expected http://HOST:PORT")
            client = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            set_timeout(client, settings.store_timeout)
            return client
        return chromadb.PersistentClient(path=settings.db, settings=chroma_settings)
    except StoreError:
        raise
    except Exception as e:  # chromadb raises a variety of types for an unreachable server
        raise StoreError(f"cannot open the Chroma store at {settings.store_label}: {e}") from e


def set_timeout(client, seconds: float) -> None:
    """chromadb's HttpClient makes its requests with ``httpx.Client(timeout=None)`` and has no
    setting for it (1.5.x): set the timeout on that session, so a hung server raises
    ``httpx.TimeoutException`` after ``seconds`` instead of holding the caller forever."""
    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        raise StoreError("this chromadb version's HTTP client cannot be given a timeout (store_timeout)")
    session.timeout = httpx.Timeout(seconds)


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
        self._complete_lock = threading.Lock()
        self._complete: tuple[str, frozenset[str]] | None = None  # (revision, complete episode ids)
        self._complete_checked = 0.0
        self._open()

    def _call(self, op: Callable[[], T]) -> T:
        """``op`` (which reads ``self._collection``/``self._meta`` when called), once more on
        fresh handles if the collection it used is gone (dropped and re-created elsewhere). A
        server that does not answer in time or cannot be reached raises ``StoreError``."""
        try:
            try:
                return op()
            except NotFoundError:
                self._open()
                return op()
        except httpx.TimeoutException as e:
            raise StoreError(
                f"the Chroma server at {self.settings.store_label} did not answer within "
                f"{self.settings.store_timeout:g} s (store_timeout)"
            ) from e
        except httpx.TransportError as e:
            raise StoreError(f"cannot reach the Chroma server at {self.settings.store_label}: {e}") from e

    def _open(self) -> None:
        self._complete = None
        try:
            breadth = self.settings.search_breadth
            self._collection = self.client.get_or_create_collection(
                self.settings.collection,
                configuration={"hnsw": {"space": "cosine", "ef_search": breadth}},
                embedding_function=None,
            )
            # a collection made before (or by another setting) keeps its own: ef_search may change later
            if ((self._collection.configuration or {}).get("hnsw") or {}).get("ef_search") != breadth:
                self._collection.modify(configuration={"hnsw": {"ef_search": breadth}})
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
        overviews = self._read(SearchFilter(sections=("overview",)).where(), ["metadatas"], READ_PAGE)
        return sorted((c.metadata for c in overviews), key=lambda m: m["episode_id"])

    def episode(self, episode_id: str) -> dict | None:
        got = self._call(lambda: self._collection.get(ids=[f"{episode_id}/overview/0"], include=["metadatas"]))
        return got["metadatas"][0] if got["ids"] else None

    def complete_episode_ids(self) -> frozenset[str]:
        """Ids of the episodes that have their overview, re-read when the store revision has
        changed (the revision checked at most once a ``COMPLETE_CHECK_SECONDS``). The revision is
        read before the overviews, so the set is never older than the revision it is kept for."""
        now = time.monotonic()
        cached = self._complete
        if cached is not None and now - self._complete_checked < COMPLETE_CHECK_SECONDS:
            return cached[1]
        # one thread refreshes; the others go on with the set they have instead of queueing
        # behind it (behind a hung server, each would otherwise wait a store_timeout in turn)
        if not self._complete_lock.acquire(blocking=cached is None):
            return cached[1]
        try:
            revision = self.revision()
            self._complete_checked = now
            if self._complete is None or self._complete[0] != revision:
                self._complete = (revision, frozenset(m["episode_id"] for m in self.episodes()))
            return self._complete[1]
        finally:
            self._complete_lock.release()

    def query(self, vector: list[float], n: int, flt: SearchFilter | None = None) -> list[StoredChunk]:
        """The ``n`` chunks of complete episodes nearest to ``vector`` under ``flt``, nearest
        first. Chroma returns fewer when it has fewer (no count() first: in server mode that is
        one more round trip). Chunks of an episode without its overview (a write that died
        half-way) are left out: the query is repeated without that episode, which costs a round
        trip only when such an episode is among the nearest."""
        complete = self.complete_episode_ids()
        where = (flt or SearchFilter()).where()
        hidden: set[str] = set()
        while True:
            clause = _and(where, {"episode_id": {"$nin": sorted(hidden)}} if hidden else None)
            got = self._call(
                lambda clause=clause: self._collection.query(
                    query_embeddings=[vector],
                    n_results=n,
                    where=clause,
                    include=["documents", "metadatas", "distances"],
                )
            )
            found = [
                StoredChunk(i, d, m, similarity=1.0 - dist)
                for i, d, m, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])
            ]
            incomplete = {c.metadata["episode_id"] for c in found} - complete
            if not incomplete:
                return found
            hidden |= incomplete

    def chunks(
        self,
        flt: SearchFilter | None = None,
        *,
        documents: bool = True,
        with_vectors: bool = False,
        page: int = READ_PAGE,
        include_incomplete: bool = False,
    ) -> list[StoredChunk]:
        """All chunks of complete episodes matching ``flt`` (``include_incomplete``: also those of
        episodes whose write died before the overview), read in pages: one unbounded ``get`` over
        tens of thousands of chunks fails in Chroma ("too many SQL variables")."""
        include = ["metadatas"] + (["documents"] if documents else []) + (["embeddings"] if with_vectors else [])
        flt = flt or SearchFilter()
        found = self._read(flt.where(), include, page)
        if include_incomplete:
            return found
        if flt.sections is None or "overview" in flt.sections:  # the overviews are among them
            complete = {c.metadata["episode_id"] for c in found if c.metadata["section"] == "overview"}
        else:
            complete = self._have_overview({c.metadata["episode_id"] for c in found})
        return [c for c in found if c.metadata["episode_id"] in complete]

    def _read(self, where: dict | None, include: list[str], page: int) -> list[StoredChunk]:
        documents, with_vectors = "documents" in include, "embeddings" in include
        out: list[StoredChunk] = []
        offset = 0
        while True:
            got = self._call(
                lambda offset=offset: self._collection.get(where=where, include=include, limit=page, offset=offset)
            )
            out.extend(_stored(got, documents, with_vectors))
            if len(got["ids"]) < page:
                return out
            offset += page

    def _have_overview(self, episode_ids: set[str]) -> set[str]:
        ids = [f"{e}/overview/0" for e in sorted(episode_ids)]
        out: set[str] = set()
        for start in range(0, len(ids), ID_PAGE):
            got = self._call(lambda start=start: self._collection.get(ids=ids[start : start + ID_PAGE], include=[]))
            out.update(i.split("/", 1)[0] for i in got["ids"])
        return out

    def get(self, ids: list[str]) -> list[StoredChunk]:
        """The chunks with these ids (those that exist), in the store's order."""
        return _stored(
            self._call(lambda: self._collection.get(ids=ids, include=["documents", "metadatas"])), True, False
        )

    def count(self) -> int:
        """Chunks of completely indexed episodes (from their manifests)."""
        return sum(sum(counts_from_manifest(m).values()) for m in self.episodes())

    def revision(self) -> str:
        got = self._call(lambda: self._meta.get(ids=["revision"], include=["documents"]))
        return got["documents"][0] if got["ids"] else ""

    # --- writing ---------------------------------------------------------------------------
    def _bump_revision(self) -> None:
        self._call(lambda: self._meta.upsert(ids=["revision"], embeddings=[[1.0]], documents=[uuid.uuid4().hex]))

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
            # not retried on fresh handles: half an episode in a dropped collection and the rest
            # (with the overview) in its successor would look complete
            self._collection.upsert(
                ids=[c.id for c in batch],
                documents=[c.text for c in batch],
                embeddings=vectors[part],
                metadatas=metadatas,
            )
        self.repair_vectors([c.id for c in chunks], vectors)
        self._bump_revision()

    def unfindable(self, ids: list[str], vectors: list[list[float]] | None = None) -> list[str]:
        """The chunks among ``ids`` whose stored vector does not find itself (nor an identical one) as
        its nearest neighbour: records the vector index lost. Seen after a writer was killed mid-write
        and the episode rewritten (delete and add of the same ids): a few chunks stayed in the
        records but were never found by vector search again. ``vectors``: the ones just written for
        ``ids``, which need not be read back."""
        lost: list[str] = []
        for start in range(0, len(ids), ID_PAGE):
            part = ids[start : start + ID_PAGE]
            if vectors is None:
                stored = self._call(lambda part=part: self._collection.get(ids=part, include=["embeddings"]))
                part, queries = stored["ids"], [list(v) for v in stored["embeddings"]]
            else:
                queries = [list(v) for v in vectors[start : start + ID_PAGE]]
            if not part:
                continue
            got = self._call(
                lambda queries=queries: self._collection.query(
                    query_embeddings=queries, n_results=1, include=["distances"]
                )
            )
            lost += [i for i, d in zip(part, got["distances"]) if not d or d[0] > SELF_DISTANCE]
        return lost

    def repair_vectors(self, ids: list[str], vectors: list[list[float]] | None = None) -> list[str]:
        """Re-write the chunks among ``ids`` that vector search lost (``unfindable``; ``vectors``: the
        ones just written for them) from their own stored records, which puts them back in the index;
        returns their ids."""
        lost = self.unfindable(ids, vectors)
        for start in range(0, len(lost), _WRITE_BATCH):
            part = lost[start : start + _WRITE_BATCH]
            rec = self._call(
                lambda part=part: self._collection.get(ids=part, include=["embeddings", "documents", "metadatas"])
            )
            if rec["ids"]:  # a record that is not there at all has nothing to put back
                self._collection.upsert(
                    ids=rec["ids"], embeddings=rec["embeddings"], documents=rec["documents"], metadatas=rec["metadatas"]
                )
        if lost and self.unfindable(lost):
            raise StoreError(f"{len(lost)} chunks stay lost to vector search in {self.settings.store_label}")
        return lost

    def writer_died(self) -> bool:
        """Did an earlier writer stop without finishing (``begin_writing`` without ``end_writing``)?"""
        return bool(self._call(lambda: self._meta.get(ids=["writing"]))["ids"])

    def begin_writing(self) -> None:
        self._call(lambda: self._meta.upsert(ids=["writing"], embeddings=[[1.0]], documents=[uuid.uuid4().hex]))

    def end_writing(self) -> None:
        self._call(lambda: self._meta.delete(ids=["writing"]))

    def _delete_chunks(self, episode_id: str) -> None:
        # overview first: from here on the episode counts as not indexed
        self._call(lambda: self._collection.delete(ids=[f"{episode_id}/overview/0"]))
        self._call(lambda: self._collection.delete(where={"episode_id": episode_id}))

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
        seen = {c.metadata["episode_id"] for c in self.chunks(documents=False, include_incomplete=True)}
        return seen - indexed


def _and(*clauses: dict | None) -> dict | None:
    present = [c for c in clauses if c]
    if len(present) <= 1:
        return present[0] if present else None
    return {"$and": present}


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
