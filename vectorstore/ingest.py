"""Files and folders -> episodes in the store: incremental, crash-safe, one clear error per bad file.

>>> from vectorstore.config import load_settings
>>> from vectorstore.store import EpisodeStore
>>> results = ingest(["data/episodes"], EpisodeStore(load_settings(db="/tmp/ea-doc")))  # doctest: +SKIP
>>> results[0].status  # doctest: +SKIP
'added'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from .chunks import SECTIONS, episode_chunks, section_counts
from .episode import EpisodeError, file_hash, load_episode, read_episode_bytes
from .store import EpisodeStore, counts_from_manifest, manifest_for

EPISODE_SUFFIXES = {".txt", ".md", ".markdown", ".yaml", ".yml"}


@dataclass
class IngestResult:
    file: str
    status: str  # added | updated | skipped | failed | pruned
    id: str | None = None
    chunks: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SECTIONS})
    error: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items()}


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[IngestResult]]:
    """Files as given, folders expanded to their episode files (sorted); missing paths fail."""
    files: list[Path] = []
    missing: list[IngestResult] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and f.suffix.lower() in EPISODE_SUFFIXES and not f.name.startswith(".")
                )
            )
        elif p.exists():
            files.append(p)
        else:
            missing.append(IngestResult(str(p), "failed", error=f"{p}: no such file or folder"))
    seen: set[Path] = set()
    unique = [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]
    return unique, missing


def ingest(
    paths: Iterable[str | Path],
    store: EpisodeStore,
    *,
    rebuild: bool = False,
    prune: bool = False,
    progress: bool = True,
) -> list[IngestResult]:
    """Index episode files. Unchanged files (same content hash) are skipped, changed ones replaced
    whole; a file that fails leaves the episode's indexed version as it was."""
    files, results = expand_paths(paths)
    if rebuild:
        store.reset()
    indexed = {m["episode_id"]: m for m in store.episodes()}
    by_hash = {m.get("content_hash"): m for m in indexed.values()}
    done_ids: dict[str, str] = {}

    bar = tqdm(total=len(files), unit="file", desc="ingest", disable=not progress, leave=False)
    for path in files:
        bar.set_postfix_str(path.name[-40:], refresh=False)
        results.append(_ingest_one(path, store, indexed, by_hash, done_ids, bar))
        bar.update(1)
    bar.close()

    if prune:
        results.extend(_prune(store, indexed, done_ids))
    return results


def _ingest_one(
    path: Path, store: EpisodeStore, indexed: dict, by_hash: dict, done_ids: dict, bar: tqdm
) -> IngestResult:
    file = str(path.resolve())
    try:
        data = read_episode_bytes(path, store.settings.max_file_bytes)
        known = by_hash.get(file_hash(data))
        if known is not None and known.get("file") == file:
            done_ids[known["episode_id"]] = file
            return IngestResult(file, "skipped", known["episode_id"], counts_from_manifest(known))
        episode = load_episode(path, data)  # errors name the path as given
        episode.file = file
        if episode.id in done_ids:
            raise EpisodeError(
                path, f"episode id {episode.id!r} was already ingested from {done_ids[episode.id]} in this run"
            )
        chunks = episode_chunks(episode)
        counts = section_counts(chunks)
        # embed everything before touching the store: a failure here leaves the old version intact
        with tqdm(
            total=len(chunks),
            unit="chunk",
            desc=f"  embed {path.name[-30:]}",
            leave=False,
            disable=bar.disable,
            position=1,
        ) as chunk_bar:
            vectors = store.embed(chunks, on_batch=chunk_bar.update)
        manifest = manifest_for(file, episode.content_hash, counts, episode.date, episode.duration)
        store.write_episode(episode.id, chunks, vectors, manifest)
        done_ids[episode.id] = file
        status = "updated" if episode.id in indexed else "added"
        return IngestResult(file, status, episode.id, counts)
    except EpisodeError as e:
        return IngestResult(file, "failed", error=str(e))


def _prune(store: EpisodeStore, indexed: dict, done_ids: dict) -> list[IngestResult]:
    """Drop episodes whose source file is gone (or was not seen in this run's folders and no
    longer exists)."""
    pruned = []
    for episode_id, meta in indexed.items():
        file = meta.get("file", "")
        if episode_id not in done_ids and not Path(file).exists():
            store.delete_episode(episode_id)
            pruned.append(IngestResult(file, "pruned", episode_id, counts_from_manifest(meta)))
    for episode_id in store.stray_episode_ids():
        store.delete_episode(episode_id)
        pruned.append(IngestResult("", "pruned", episode_id, error="incomplete episode left by an interrupted ingest"))
    return pruned
