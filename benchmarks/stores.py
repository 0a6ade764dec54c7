"""Benchmark stores of 1 to 1,000 episodes, built without re-embedding every chunk.

Encoding 344,000 chunks would take over an hour on 2 cores and tells nothing about retrieval
latency, so synthetic episodes reuse the bundled episode's vectors for the item at the same
position (plus a little noise, so the HNSW graph is not built over exact duplicates). Their text,
ids, metadata and manifests are real: BM25, filters and the incremental re-ingest path see
exactly what a real ingest would have written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from vectorstore.chunks import episode_chunks, section_counts
from vectorstore.config import load_settings
from vectorstore.episode import load_episode
from vectorstore.filters import SearchFilter
from vectorstore.ingest import ingest
from vectorstore.store import EpisodeStore, manifest_for

from .synth import generate

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "data" / "episodes" / "000_e8dde77376fc3016.txt"
DATA = ROOT / "benchmarks" / "data"


def base_vectors(store: EpisodeStore, episode_id: str) -> dict[tuple[str, int], np.ndarray]:
    """(section, index) -> vector of the bundled episode as the real ingest stored it."""
    got = store.chunks(SearchFilter(episode=episode_id), documents=False, with_vectors=True)
    return {(c.metadata["section"], c.metadata["index"]): np.asarray(c.vector) for c in got}


def index_reusing_vectors(files: list[Path], store: EpisodeStore, base: dict, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    fallback = base[("overview", 0)]
    total = 0
    for path in files:
        episode = load_episode(path)
        episode.file = str(path.resolve())
        chunks = episode_chunks(episode)
        vectors = []
        for c in chunks:
            v = base.get((c.section, c.metadata["index"]), fallback) + rng.normal(0, 0.01, 384)
            vectors.append((v / np.linalg.norm(v)).tolist())
        store.write_episode(
            episode.id,
            chunks,
            vectors,
            manifest_for(episode.file, episode.content_hash, section_counts(chunks), episode.date, episode.duration),
        )
        total += len(chunks)
    return total


def scale_store(n: int) -> tuple[Path, list[Path]]:
    """A store folder holding the bundled episode plus n-1 synthetic ones (cached under
    benchmarks/data, rebuilt when missing)."""
    folder = DATA / f"scale-{n}"
    episodes = folder / "episodes"
    db = folder / "db"
    marker = folder / ".complete"
    files = sorted(episodes.glob("*.txt")) if episodes.exists() else []
    if marker.exists() and len(files) == n:
        return db, files
    shutil.rmtree(folder, ignore_errors=True)
    episodes.mkdir(parents=True)
    shutil.copy(BASE, episodes / BASE.name)
    if n > 1:
        generate(n - 1, episodes, seed=n)
    files = sorted(episodes.glob("*.txt"))
    store = EpisodeStore(load_settings(db=str(db)))
    [result] = ingest([episodes / BASE.name], store, progress=False)  # the real one, really embedded
    assert result.status == "added", result.error
    index_reusing_vectors([f for f in files if f.name != BASE.name], store, base_vectors(store, result.id))
    marker.touch()
    return db, files
