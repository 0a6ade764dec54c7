"""`episode-assistant ingest` / `list`: incremental, bad input, nothing lost."""

import json
import re
import shutil
import subprocess
import sys

from cli.main import main
from vectorstore.filters import SearchFilter
from vectorstore.store import EpisodeStore

from conftest import EPISODE, EPISODE_ID, ROOT


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_reingest_skips_unchanged(writable_store_settings, capsys):
    code, out, _ = run(capsys, "--db", writable_store_settings.db, "ingest", "--json", str(EPISODE))
    assert code == 0
    [ep] = json.loads(out)["episodes"]
    assert ep["status"] == "skipped" and ep["id"] == EPISODE_ID
    assert ep["chunks"] == {"quotes": 232, "companies": 103, "summary": 7, "insights": 1, "overview": 1}


def test_bad_file_beside_good_one(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("---\ntitle: [oops\n---\n")
    db = str(tmp_path / "db")
    code, out, err = run(capsys, "--db", db, "ingest", "--json", str(bad), str(EPISODE))
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert (
        len(errors) == 1
        and str(bad) in errors[0]
        and re.search(r":\d+: invalid YAML", errors[0])
        and "Traceback" not in err
    )
    statuses = {e["file"]: e["status"] for e in json.loads(out)["episodes"]}
    assert statuses[str(bad.resolve())] == "failed" and statuses[str(EPISODE)] == "added"
    code, out, _ = run(capsys, "--db", db, "list", "--json")
    [listed] = json.loads(out)["episodes"]
    assert listed["title"] == "Is RL + LLMs enough for AGI? — Sholto Douglas & Trenton Bricken"
    assert listed["chunks"]["quotes"] == 232


def test_failing_new_version_keeps_the_indexed_one(writable_store_settings, tmp_path, capsys):
    folder = tmp_path / "eps"
    folder.mkdir()
    copy = folder / EPISODE.name
    shutil.copy(EPISODE, copy)
    db = writable_store_settings.db
    assert run(capsys, "--db", db, "ingest", str(copy))[0] == 0  # now indexed from the copy
    copy.write_text(copy.read_text()[:5000])  # truncated: front matter never closes
    code, _, err = run(capsys, "--db", db, "ingest", str(copy))
    assert code == 1 and "not closed" in err
    store = EpisodeStore(writable_store_settings)
    assert store.count() == 344
    assert store.episode(EPISODE_ID)["n_quotes"] == 232


def test_changed_file_is_replaced_whole_and_prune(writable_store_settings, tmp_path, capsys):
    folder = tmp_path / "eps"
    folder.mkdir()
    copy = folder / EPISODE.name
    text = EPISODE.read_text()
    # drop the last quote: the updated episode must not keep a stale quotes/231 chunk
    cut = text.index("- impact_reason: 'A general insight on product development")
    copy.write_text(text[:cut] + text[text.index("source: Unknown Source") :])
    db = writable_store_settings.db
    code, out, _ = run(capsys, "--db", db, "ingest", "--json", str(folder))
    [ep] = json.loads(out)["episodes"]
    assert code == 0 and ep["status"] == "updated" and ep["chunks"]["quotes"] == 231
    store = EpisodeStore(writable_store_settings)
    assert store.get([f"{EPISODE_ID}/quotes/231"]) == []
    assert store.count() == 343
    copy.unlink()
    code, out, _ = run(capsys, "--db", db, "ingest", "--json", "--prune", str(folder))
    assert [e["status"] for e in json.loads(out)["episodes"]] == ["pruned"]
    assert store.count() == 0 and store.episodes() == []


def test_rebuild_starts_over(writable_store_settings, capsys):
    code, out, _ = run(capsys, "--db", writable_store_settings.db, "ingest", "--rebuild", "--json", str(EPISODE))
    assert code == 0 and json.loads(out)["episodes"][0]["status"] == "added"


def test_missing_path_is_an_error(tmp_path, capsys):
    code, _, err = run(capsys, "--db", str(tmp_path / "db"), "ingest", str(tmp_path / "nope"))
    assert code == 1 and "no such file" in err


def test_console_script_lists(indexed_settings):
    exe = ROOT / ".venv" / "bin" / "episode-assistant"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "cli"]
    proc = subprocess.run([*cmd, "--db", indexed_settings.db, "list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert EPISODE_ID in proc.stdout


def test_store_reads_in_pages(indexed_store):
    """Chroma rejects one unbounded get over tens of thousands of chunks: reads are paged."""
    whole = indexed_store.chunks()
    paged = indexed_store.chunks(page=50)
    assert [c.id for c in paged] == [c.id for c in whole] and len(paged) == 344
    assert [c.metadata for c in paged] == [c.metadata for c in whole] and [c.text for c in paged] == [
        c.text for c in whole
    ]
    assert [c.id for c in indexed_store.chunks(SearchFilter(sections=("summary",)), documents=False, page=3)] == [
        c.id for c in whole if c.metadata["section"] == "summary"
    ]


def test_vectors_search_lost_are_put_back_from_their_records(writable_store_settings):
    """Seen once in the kill -9 test: after a killed ingest and a rewrite of the same ids, four chunks
    stayed in the records but no vector search found them. Every write checks its chunks, and an
    ingest after an interrupted one checks the whole store; this simulates the index losing one."""
    store = EpisodeStore(writable_store_settings)
    ids = [c.id for c in store.chunks(documents=False)]
    assert store.unfindable(ids) == []
    lost_id = f"{EPISODE_ID}/quotes/17"

    class LosesOne:  # the real collection, except that vector search does not find one chunk until it is re-written
        def __init__(self, real):
            self.real, self.rewritten = real, False

        def query(self, query_embeddings, **kw):
            got = self.real.query(query_embeddings=query_embeddings, **kw)
            stored = self.real.get(ids=[lost_id], include=["embeddings"])["embeddings"][0]
            for k, vector in enumerate(query_embeddings):
                if not self.rewritten and list(vector) == list(stored):
                    got["distances"][k] = [0.7]
            return got

        def upsert(self, ids, **kw):
            self.rewritten |= lost_id in ids
            return self.real.upsert(ids=ids, **kw)

        def __getattr__(self, name):
            return getattr(self.real, name)

    store._collection = LosesOne(store._collection)
    assert store.unfindable(ids) == [lost_id]
    assert store.repair_vectors(ids) == [lost_id] and store.unfindable(ids) == []
    assert store.get([lost_id])[0].text  # the record itself is as it was


def test_an_ingest_after_an_interrupted_one_checks_the_vector_index(writable_store_settings, monkeypatch):
    from vectorstore.ingest import ingest

    store = EpisodeStore(writable_store_settings)
    store.begin_writing()  # as a killed ingest leaves it
    again = EpisodeStore(writable_store_settings)
    assert again.writer_died()
    checked = []
    monkeypatch.setattr(EpisodeStore, "repair_vectors", lambda self, ids: checked.extend(ids) or [])
    assert [r.status for r in ingest([EPISODE], again, progress=False)] == ["skipped"]
    assert len(checked) == again.count() and not again.writer_died()
    checked.clear()
    ingest([EPISODE], again, progress=False)  # a clean start: nothing to check
    assert checked == []
