"""Faults: malformed input and killed processes.

* The loader, fuzzed (hypothesis): random bytes and line-level YAML mutations of the bundled
  episode (and of a small one derived from it) either load or raise one ``EpisodeError`` whose
  message is one line naming the file; an episode that loads also chunks into valid,
  Chroma-storable chunks whose text is verbatim at the lines they cite. What the fuzzing found
  is pinned by ``test_loader_regressions_found_by_fuzzing``.
* ``kill -9`` of ``episode-assistant ingest`` part-way through 50 (small, synthetic) episodes, then
  an ingest again: the index equals a clean ingest of the same files.
* ``kill -9`` at random moments of ingests whose episodes span several write batches (fast fake
  embeddings, so the time goes into Chroma writes), with files changing between rounds: every
  episode the store lists is complete at every moment, and the end state equals a clean ingest.
* A writer dying between deleting an episode's old chunks and writing the new ones still moves
  the store revision, so other processes' BM25 indexes drop the old chunks.

The stores are inspected by a separate process once the killed one is gone: a
``PersistentClient`` caches its state per process and must not share a folder with a writer.
"""

from __future__ import annotations

import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from conftest import EPISODE, ROOT, child_env

if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.synth import generate  # noqa: E402
from vectorstore.chunks import episode_chunks  # noqa: E402
from vectorstore.episode import Episode, EpisodeError, load_episode  # noqa: E402
from vectorstore.verify import is_verbatim  # noqa: E402

BIN = Path(sys.executable).parent
CLI = [str(BIN / "episode-assistant")] if (BIN / "episode-assistant").exists() else [sys.executable, "-m", "cli"]


pytestmark = pytest.mark.usefixtures("timed")


# --- the loader, fuzzed --------------------------------------------------------------------------
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
BUNDLED = EPISODE.read_bytes()
FAKE_PATH = Path("fuzz") / "000_0123456789abcdef.txt"  # never read: the bytes are passed in


def _small_episode() -> bytes:
    """A small valid episode derived from the bundled one (both quote and entity shapes)."""
    from benchmarks.synth import BASE, _base, dump_front_matter, episode_data

    raw, _ = _base(BASE)
    data = episode_data(
        raw, 0, "0123456789abcdef", random.Random(0), max_quotes=12, max_entities=8, max_summary_sections=3
    )
    return f"---\n{dump_front_matter(data)}---\n\n<!-- small -->\n".encode()


SMALL = _small_episode()
ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&\S")
KEY_LINE = re.compile(r"^(\s*(?:- )?)([A-Za-z_]+):(.*)$")
VALUES = [
    "",
    " ~",
    " null",
    " 12",
    " -3",
    " 1e999",
    " .nan",
    " -.inf",
    " 0x1F",
    " true",
    " 'x'",
    ' ""',
    " [1, 2]",
    " [",
    " {a: 1}",
    " {",
    " &a x",
    " *a",
    " *undefined",
    " !!binary aGk=",
    " !!binary ???",
    " !!python/object/apply:os.system [ls]",
    " !!set {a, b}",
    " !!omap [a: 1]",
    " 2025-02-30",
    " 2025-13-45 10:00:00",
    " 2025-01-01 10:00:00 +99:00",
    " |",
    " >-",
    " - x",
    " ? x",
    " : x",
    " @x",
    " `x",
    " %x",
    " 99999999999999999999999999",
    ' "\\x00"',
    ' "\\ud800"',
    " '''",
    " \t",
    " #c",
]
NASTY_LINES = [
    "---",
    "...",
    "%YAML 1.1",
    "%TAG ! tag:x,2000:",
    "? [a, b]",
    ": x",
    "&a",
    "*zzz",
    "<<: *nope",
    "<<: 5",
    "<<: [1, 2]",
    "- -",
    "key: [unclosed",
    "key: {a: 1",
    "'unterminated",
    "title:",
    "quotes:",
    "quotes: x",
    "companies: {}",
    "summary: 5",
    "summary: ''",
    "title: &t x",
    "quotes: *t",
    "id: a/b",
    "id: [1, 2]",
    "id: ok-id",
    "date: 2025-02-30",
    "duration: .inf",
    "duration: -5",
    "\t- text: x",
    "- text: ''",
    "- name: ''\n  position: -1",
    "\ufeff",
    "#comment",
    " ",
    "\x7f",
    "a: \u2028b",
    "a: \x85b",
    "a: \x0cb",
]
BAD_BYTES = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\x80",
    b"\x00",
    b"\xe2\x82",
    b"\xf4\x90\x80\x80",
    b"\r",
    b"\r\n",
    b"\xef\xbb\xbf",
]


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """1-4 line-level mutations inside the front matter of ``base`` (a valid episode), then
    maybe damage to the whole file: truncation, bad bytes, CRLF, a lost delimiter."""
    head, *lines = base.decode("utf-8").split("\n")
    close = lines.index("---")
    lines, rest = lines[:close], lines[close:]
    keyed = [i for i, line in enumerate(lines) if KEY_LINE.match(line)]
    top = [i for i, line in enumerate(lines) if re.match(r"^[a-z_]+:", line)]
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            lines = [""]
        pick = draw(st.sampled_from(("any", "key", "top")))
        pool = {"any": range(len(lines)), "key": keyed, "top": top}[pick] or range(len(lines))
        i = min(draw(st.sampled_from(pool)), len(lines) - 1)
        kind = draw(
            st.sampled_from(
                ("delete", "duplicate", "swap", "text", "retype", "tab", "indent", "insert", "rename", "move_block")
            )
        )
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "text":
            lines[i] = draw(st.text(max_size=60))
        elif kind == "retype":
            m = KEY_LINE.match(lines[i])
            value = draw(st.one_of(st.sampled_from(VALUES), st.text(max_size=20).map(lambda t: " " + t)))
            lines[i] = f"{m.group(1)}{m.group(2)}:{value}" if m else lines[i] + value
        elif kind == "tab":
            lines[i] = draw(st.sampled_from(("\t" + lines[i], lines[i].replace("  ", "\t", 1), lines[i] + "\t")))
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(0, 7)) + lines[i].lstrip(" ")
        elif kind == "insert":
            lines.insert(i, draw(st.sampled_from(NASTY_LINES)))
        elif kind == "rename":
            m = KEY_LINE.match(lines[i])
            if m:
                new = draw(
                    st.sampled_from(
                        (
                            "title",
                            "summary",
                            "quotes",
                            "companies",
                            "insights",
                            "topics",
                            "tags",
                            "text",
                            "name",
                            "position",
                            "relevance_score",
                            "id",
                            "<<",
                            "titel",
                        )
                    )
                )
                lines[i] = f"{m.group(1)}{new}:{m.group(3)}"
        else:  # move a block of lines elsewhere
            n = draw(st.integers(1, 12))
            block, lines[i : i + n] = lines[i : i + n], []
            j = draw(st.integers(0, len(lines)))
            lines[j:j] = block
    data = "\n".join([head, *lines, *rest]).encode("utf-8", "surrogatepass")
    damage = draw(st.sampled_from(("none",) * 10 + ("truncate", "bytes", "crlf", "bom", "no_close", "no_open")))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]
    elif damage == "crlf":
        data = data.replace(b"\n", b"\r\n")
    elif damage == "bom":
        data = b"\xef\xbb\xbf" + data
    elif damage == "no_close":
        data = data.replace(b"\n---\n", b"\n", 1) if data.count(b"\n---\n") else data
    elif damage == "no_open":
        data = data[4:]
    return data


def _event(what: str) -> None:
    if currently_in_test_context():  # ``--hypothesis-show-statistics`` shows how inputs fared
        event(what)


def check_load(data: bytes, verify: bool = False) -> Episode | None:
    """``load_episode`` returns an Episode or raises one one-line EpisodeError naming the file;
    anything else propagates and fails the test. A loaded episode must chunk cleanly."""
    try:
        episode = load_episode(FAKE_PATH, data)
    except EpisodeError as e:
        msg = str(e)
        assert len(msg.splitlines()) == 1 and "\n" not in msg and "\r" not in msg, repr(msg)
        assert msg.startswith(f"{FAKE_PATH}:") or msg.startswith(f"{FAKE_PATH} "), repr(msg)
        assert e.file == str(FAKE_PATH) and e.reason
        # YAML also breaks lines at \x85, \u2028 and \u2029, as str.splitlines does
        assert e.line is None or 1 <= e.line <= len(data.decode("utf-8", "replace").splitlines()) + 2, (e.line, msg)
        _event("error: " + re.sub(r"[\d'\"].*", "", e.reason)[:40])  # --hypothesis-show-statistics
        return None
    assert isinstance(episode, Episode)
    _event("loaded")
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", episode.id), episode.id
    text = data.decode("utf-8-sig")
    n_lines = len(text.splitlines())
    chunks = episode_chunks(episode)
    ids = [c.id for c in chunks]
    assert len(ids) == len(set(ids)) and chunks[-1].section == "overview"
    for c in chunks:
        md = c.metadata
        for k, v in md.items():  # what Chroma accepts, and nothing it would silently drop
            assert isinstance(v, (str, int, float, bool)), (c.id, k, v)
            assert not isinstance(v, float) or v == v and abs(v) != float("inf"), (c.id, k, v)
        assert 1 <= md["line_start"] <= md["line_end"] <= max(n_lines, 1), (
            c.id,
            md["line_start"],
            md["line_end"],
            n_lines,
        )
    # the verbatim check compares with the file's lines; it cannot undo a double-quoted scalar's
    # escapes ("\x41" is "A") nor follow an alias to its anchor elsewhere, so those are left out
    if verify and "\\" not in text and not ANCHOR.search(text):
        file_lines = text.splitlines()
        for c in chunks:
            if c.section != "overview":
                assert is_verbatim(file_lines, c.text, c.metadata["line_start"], c.metadata["line_end"]), c.id
    return episode


def test_seeds_load():
    assert check_load(SMALL, verify=True) is not None
    assert check_load(BUNDLED) is not None


@settings(FUZZ, max_examples=4000)
@given(
    st.one_of(
        st.binary(max_size=3000),
        st.binary(max_size=2000).map(lambda b: b"---\n" + b + b"\n---\n"),
        st.text(max_size=2000).map(lambda t: ("---\n" + t + "\n---\n").encode("utf-8", "surrogatepass")),
    )
)
def test_fuzz_random_bytes(data):
    check_load(data)


@settings(FUZZ, max_examples=2500)
@given(mutated(SMALL))
def test_fuzz_yaml_mutations_small_episode(data):
    # every mutation that still loads must still cite verbatim text at the lines it claims
    check_load(data, verify=True)


@settings(FUZZ, max_examples=250)
@given(mutated(BUNDLED))
def test_fuzz_yaml_mutations_bundled_episode(data):
    check_load(data)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("quotes:\nquotes:\n- text: a\n", None),  # a repeated key: the last one wins
        ("quotes: []\nquotes:\n- text: a\n- text: b\n", None),
        ("date: 2025-02-30\n", "invalid date/time"),  # PyYAML's bare ValueError
        ("date: 2025-01-01 10:00:00 +99:00\n", "invalid date/time"),
        ("title: x\x07y\n", "unacceptable character #x0007"),  # ReaderError: was two lines
        ("duration: .inf\n", "finite number"),
        ("quotes:\n- text: a\n  relevance_score: .nan\n", "finite number"),
        ("id: a/b\n", "not usable as an episode id"),
        ("quotes:\n- text: !!binary aGk=\n", "binary data"),  # was cited as "hi"
    ],
)
def test_loader_regressions_found_by_fuzzing(text, fragment):
    data = f"---\ntitle: T\nsummary: '## S'\n{text}---\n".encode()
    episode = check_load(data)
    if fragment is None:
        assert episode is not None and episode.quotes[0].text == "a"
        assert episode.quotes[0].line_start == data.decode().splitlines().index("- text: a") + 1
    else:
        assert episode is None
        with pytest.raises(EpisodeError, match=re.escape(fragment)):
            load_episode(FAKE_PATH, data)


# --- kill -9 ---------------------------------------------------------------------------------
INSPECT = r'''
"""Print a JSON snapshot of each store named on the command line (or, with --ingest-fake DB DIR,
snapshot DB and then ingest DIR into it with fast deterministic fake embeddings)."""
import hashlib, json, sys
import numpy as np
from vectorstore.config import load_settings
from vectorstore.store import EpisodeStore, counts_from_manifest

def fake_embed(self, chunks, on_batch=None):
    out = []
    for c in chunks:
        seed = int.from_bytes(hashlib.sha256(c.embed_text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).normal(size=384)
        out.append((v / np.linalg.norm(v)).tolist())
    if on_batch:
        on_batch(len(chunks))
    return out

def snapshot(db):
    store = EpisodeStore(load_settings(db=db))
    got = store.chunks(with_vectors=True, include_incomplete=True)  # the raw records, strays too
    chunks, per_episode = {}, {}
    for c in got:
        m = {k: v for k, v in c.metadata.items() if k != "indexed_at"}
        chunks[c.id] = [c.text, m]
        per_episode[m["episode_id"]] = per_episode.get(m["episode_id"], 0) + 1
    episodes = {m["episode_id"]: {k: v for k, v in m.items() if k != "indexed_at"} for m in store.episodes()}
    incomplete = sorted(e for e, m in episodes.items() if sum(counts_from_manifest(m).values()) != per_episode.get(e))
    # the vector index agrees with the records: every stored vector of a listed episode finds itself
    vectors = {c.id: c.vector for c in got}
    listed = sorted(i for i in vectors if i.split("/", 1)[0] in episodes)
    sample = listed[:: max(1, len(listed) // 25)]
    lost = []
    for i in sample:
        nearest = store.query(vectors[i], 1)
        if not nearest or nearest[0].similarity < 1 - 1e-4:
            lost.append(i)
    raw_count = store._collection.count()
    return {"db": db, "count": raw_count, "ids": [c.id for c in got], "chunks": chunks, "per_episode": per_episode,
            "episodes": episodes, "incomplete": incomplete, "strays": sorted(store.stray_episode_ids()),
            "not_found_by_vector": lost, "vectors": {i: [round(x, 4) for x in v] for i, v in vectors.items()}}

if sys.argv[1] == "--ingest-fake":
    from vectorstore.ingest import ingest
    db, folder = sys.argv[2:4]
    print(json.dumps(snapshot(db)), flush=True)
    EpisodeStore.embed = fake_embed
    results = ingest([folder], EpisodeStore(load_settings(db=db)), progress=False)
    print(json.dumps([r.as_dict() for r in results]), flush=True)
else:
    print(json.dumps([snapshot(db) for db in sys.argv[1:]]))
'''


def inspect(*dbs: Path) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-c", INSPECT, *map(str, dbs)],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def overview_count_readonly(db: Path) -> int | None:
    """How many episodes are completely indexed, peeked at through a read-only SQLite connection
    (Chroma's own tables; a test-only look that takes no write lock). None when unknown."""
    f = db / "chroma.sqlite3"
    if not f.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{f}?mode=ro", uri=True, timeout=0.2)
        try:
            return con.execute(
                "SELECT count(*) FROM embedding_metadata WHERE key = 'section' AND string_value = 'overview'"
            ).fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return None


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=ROOT)


def assert_consistent(snap: dict) -> None:
    """What must hold whatever moment a writer died at."""
    assert snap["incomplete"] == [], f"listed episodes missing chunks: {snap['incomplete']}"
    assert len(snap["ids"]) == len(set(snap["ids"])) == snap["count"]
    assert snap["not_found_by_vector"] == [], snap["not_found_by_vector"][:5]


def assert_same_index(got: dict, clean: dict) -> None:
    assert_consistent(got)
    assert_consistent(clean)
    assert got["strays"] == clean["strays"] == []
    assert sorted(got["ids"]) == sorted(clean["ids"])
    assert got["per_episode"] == clean["per_episode"]
    assert got["episodes"] == clean["episodes"]  # manifests: file, hash, counts, date, ...
    assert got["chunks"] == clean["chunks"]  # text and metadata of every chunk
    far = [i for i, v in got["vectors"].items() if max(abs(a - b) for a, b in zip(v, clean["vectors"][i])) > 2e-3]
    assert far == [], f"{len(far)} vectors differ from the clean ingest, e.g. {far[:3]}"


def test_kill9_during_cli_ingest_then_ingest_again_equals_clean_ingest(tmp_path, timed):
    # small episodes (1 quote, 1 entity, a summary heading, 1 insight, the overview: 5 short chunks) keep
    # three ingests of 50 affordable; the clean reference ingest runs beside the killed one (small
    # batches embed on one thread, so on 2 cores the two barely slow each other)
    files = generate(
        50, tmp_path / "episodes", seed=50, max_quotes=1, max_entities=1, max_summary_sections=1, max_summary_chars=300
    )
    folder, db, clean_db = tmp_path / "episodes", tmp_path / "db", tmp_path / "clean"
    env = child_env()

    def ingest_into(target, stdout):
        cmd = [*CLI, "--db", str(target), "ingest", "--json", "--no-progress", str(folder)]
        return subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    clean = ingest_into(clean_db, subprocess.PIPE)
    try:
        proc = ingest_into(db, subprocess.DEVNULL)
        seen, deadline = None, time.monotonic() + 240
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                seen = overview_count_readonly(db)
                if seen is not None and seen >= 20:
                    time.sleep(random.Random(1).uniform(0, 0.4))  # somewhere inside the next episode
                    break
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, f"ingest ended by itself ({proc.returncode}): {err[-2000:]}"
        timed(f"ingest killed after {seen} episodes")

        [partial] = inspect(db)
        assert_consistent(partial)
        assert 0 < len(partial["episodes"]) < len(files), len(partial["episodes"])
        again = run_cli("--db", str(db), "ingest", "--json", "--no-progress", str(folder))
        assert again.returncode == 0, again.stderr[-3000:]
        statuses = {r["id"]: r["status"] for r in json.loads(again.stdout)["episodes"]}
        assert {e for e, s in statuses.items() if s == "skipped"} == set(partial["episodes"])
        assert all(statuses[e] == "added" for e in partial["strays"])
        timed("second ingest")
        out, err = clean.communicate(timeout=300)
        assert clean.returncode == 0, err[-3000:]
        assert {r["status"] for r in json.loads(out)["episodes"]} == {"added"}
    finally:
        if clean.poll() is None:
            clean.kill()
            clean.communicate(timeout=30)
    timed("clean ingest")

    got, ref = inspect(db, clean_db)
    assert len(ref["episodes"]) == 50 and ref["count"] == 50 * 5
    assert_same_index(got, ref)
    lists = [
        subprocess.Popen([*CLI, "--db", str(d), "list", "--json"], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        for d in (db, clean_db)
    ]
    listed = [json.loads(p.communicate(timeout=120)[0]) for p in lists]
    assert listed[0] == listed[1] and len(listed[0]["episodes"]) == 50


def _fake_ingest(db: Path, folder: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", INSPECT, "--ingest-fake", str(db), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_kill9_at_random_moments_of_multi_batch_writes(tmp_path, timed):
    """Bundled-size synthetic episodes (~344 chunks: two upsert batches each) and fake embeddings,
    so a kill lands in Chroma writes most of the time. Before each round three files change, so
    every round has episodes to replace (delete the old chunks, write the new ones)."""
    folder, db, clean_db = tmp_path / "episodes", tmp_path / "db", tmp_path / "clean"
    files = generate(6, folder, seed=6)
    rng = random.Random(6)
    env = child_env()
    kills, torn = 0, 0
    for round_ in range(5):
        if round_:  # three files change: same names and ids, other content
            fresh = generate(len(files), tmp_path / f"v{round_}", seed=6, max_quotes=rng.randint(120, 231))
            for k in (round_, round_ + 1, round_ + 2):
                fresh[k % len(files)].replace(files[k % len(files)])
        proc = _fake_ingest(db, folder, env)
        try:
            before = json.loads(proc.stdout.readline() or "null")  # the state the previous kill left
            assert before is not None, proc.stderr.read()[-3000:]
            assert_consistent(before)
            torn += bool(before["strays"])
            time.sleep(rng.uniform(0.05, 0.8))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        kills += proc.returncode == -signal.SIGKILL
    assert kills >= 3, "the ingests finished before they could be killed"
    final, clean = _fake_ingest(db, folder, env), _fake_ingest(clean_db, folder, env)
    for p in (final, clean):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        start_state = json.loads(out.splitlines()[0])
        assert_consistent(start_state)
        torn += p is final and bool(start_state["strays"])
    timed(f"{kills} kills, {torn} of which left a half-written episode (chunks, no overview)")
    got, ref = inspect(db, clean_db)
    assert len(ref["episodes"]) == len(files)
    assert_same_index(got, ref)


def test_readers_drop_an_episode_whose_rewrite_died_half_way(tmp_path, monkeypatch):
    """A writer that dies after deleting an episode's old chunks (before writing the new ones)
    has already moved the store revision: readers' BM25 indexes drop the old chunks instead of
    citing text that is no longer in the store."""
    from assistant.retriever import HybridRetriever
    from vectorstore.chunks import section_counts
    from vectorstore.config import load_settings
    from vectorstore.store import EpisodeStore, manifest_for

    [path] = generate(1, tmp_path / "episodes", seed=9, max_quotes=5, max_entities=3, max_summary_sections=2)
    episode = load_episode(path)
    chunks = episode_chunks(episode)
    vectors = [[1.0] + [0.0] * 383 for _ in chunks]  # BM25 only: the vectors do not matter
    manifest = manifest_for(str(path), episode.content_hash, section_counts(chunks), episode.date, episode.duration)
    settings = load_settings(db=str(tmp_path / "db"))
    writer = EpisodeStore(settings)
    writer.write_episode(episode.id, chunks, vectors, manifest)

    reader = HybridRetriever(store=EpisodeStore(settings), k=5, mode="bm25", revision_check_seconds=0)
    assert {h.metadata["episode_id"] for h in reader.search("Anthropic reinforcement learning").hits} == {episode.id}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed between the delete and the write")

    monkeypatch.setattr(writer._collection, "upsert", killed)
    with pytest.raises(KeyboardInterrupt):
        writer.write_episode(episode.id, chunks, vectors, manifest)
    assert writer.count() == 0
    assert reader.search("Anthropic reinforcement learning").hits == []
