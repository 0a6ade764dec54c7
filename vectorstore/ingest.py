"""Files and folders -> episodes in the store: incremental, crash-safe, one clear error per bad file.

>>> from vectorstore.config import load_settings
>>> from vectorstore.store import EpisodeStore
>>> results = ingest(["data/episodes"], EpisodeStore(load_settings(db="/tmp/ea-doc")))  # doctest: +SKIP
>>> results[0].status  # doctest: +SKIP
'added'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from .chunks import SECTIONS, episode_chunks, section_counts
from .episode import EpisodeError, file_hash, file_kind, load_episode, read_episode_bytes
from .store import EpisodeStore, counts_from_manifest, manifest_for

EPISODE_SUFFIXES = {".txt", ".md", ".markdown", ".yaml", ".yml"}
log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    file: str
    status: str  # added | updated | skipped | failed | pruned
    id: str | None = None
    chunks: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SECTIONS})
    error: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items()}


def _unusable(f: Path) -> str | None:
    """Why a folder entry named like an episode file cannot be read as one (None: it can)."""
    if f.is_symlink() and not f.exists():
        return f"{f}: a dangling symbolic link (to {f.readlink()}): skipped"
    if f.is_file() or f.is_dir():
        return None
    try:
        return f"{f}: not a regular file (a {file_kind(f.stat().st_mode)}): skipped"
    except OSError as e:
        return f"{f}: cannot read: {e.strerror or e}: skipped"


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[IngestResult]]:
    """Files as given, folders expanded to their episode files (sorted); missing paths fail.
    Entries of a folder named like episode files that are FIFOs, sockets, devices or dangling
    links are listed as ``skipped`` with the reason (reading a FIFO would block)."""
    files: list[Path] = []
    missing: list[IngestResult] = []
    for p in map(Path, paths):
        if p.is_dir():
            named = sorted(
                f for f in p.rglob("*") if f.suffix.lower() in EPISODE_SUFFIXES and not f.name.startswith(".")
            )
            for f in named:
                reason = _unusable(f)
                if reason:
                    missing.append(IngestResult(str(f), "skipped", error=reason))
                elif f.is_file():
                    files.append(f)
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
    died = store.writer_died()  # a killed ingest can leave chunks that vector search no longer finds
    store.begin_writing()
    indexed = {m["episode_id"]: m for m in store.episodes()}
    by_file = {m.get("file"): m for m in indexed.values()}
    done_ids: dict[str, str] = {}

    bar = tqdm(total=len(files), unit="file", desc="ingest", disable=not progress, leave=False)
    for path in files:
        bar.set_postfix_str(path.name[-40:], refresh=False)
        results.append(_ingest_one(path, store, indexed, by_file, done_ids, bar))
        bar.update(1)
    bar.close()

    if prune:
        results.extend(_prune(store, indexed, done_ids))
    if died:
        repaired = store.repair_vectors([c.id for c in store.chunks(documents=False)])
        if repaired:
            log.warning("an earlier ingest was interrupted: %d chunks put back in the vector index", len(repaired))
    store.end_writing()
    return results


def _ingest_one(
    path: Path, store: EpisodeStore, indexed: dict, by_file: dict, done_ids: dict, bar: tqdm
) -> IngestResult:
    file = str(path.resolve())
    try:
        data = read_episode_bytes(path, store.settings.max_file_bytes)
        # unchanged = this path's own manifest has this hash (not any manifest: identical copies
        # under other names are episodes of their own, and were all re-embedded on every run)
        known = by_file.get(file)
        if known is not None and known.get("content_hash") == file_hash(data):
            done_ids[known["episode_id"]] = file
            return IngestResult(file, "skipped", known["episode_id"], counts_from_manifest(known))
        episode = load_episode(path, data)  # errors name the path as given
        episode.file = file
        if episode.id in done_ids:
            raise EpisodeError(
                path,
                f"episode id {episode.id!r} was already ingested from {done_ids[episode.id]} in this run",
                episode.id_line,
            )
        _check_id_owner(path, episode, indexed.get(episode.id), done_ids)
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


def _check_id_owner(path: Path, episode, owner: dict | None, done_ids: dict) -> None:
    """An ``id:`` that another file still gives (it exists and still gives that id): the new file
    must not silently replace that file's episode. A file moved or renamed is fine (its old path
    is gone or now gives another id), and so is a copy of a file without an ``id:`` key (its id
    comes from its name: the copy replaces the episode, as a re-ingest from another folder does)."""
    other = (owner or {}).get("file")
    if episode.id_line is None or not other or other == episode.file or not Path(other).is_file():
        return
    if other in done_ids.values():  # re-read in this run, and it gave another id
        return
    try:
        still = load_episode(other).id == episode.id
    except EpisodeError:  # its indexed version stays, so the id is still its
        still = True
    if still:
        raise EpisodeError(
            path,
            f"episode id {episode.id!r} is already the id of {other}; give one of the two files another id",
            episode.id_line,
        )


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
