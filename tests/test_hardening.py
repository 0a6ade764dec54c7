"""Holding under load and faults (issue 16): a storm of streams, a Chroma rebuild or hang under
running servers, half-written episodes, hostile files and requests.

Servers run as real ``episode-assistant serve`` subprocesses on 127.0.0.1 (extractive answerer);
every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from test_load import CLI, candidate_questions, serving

from conftest import ROOT, child_env

if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.storm import storm  # noqa: E402

TOKEN = "hardening-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def gradio_answer(url: str, question: str, sections=(), history=(), timeout: float = 28) -> tuple[str, object]:
    """Gradio's ``/answer`` endpoint over plain HTTP: ("complete", answer dict) or ("error", message)."""
    data = [question, list(history), "", "extractive", list(sections)]
    r = requests.post(f"{url}/gradio_api/call/answer", json={"data": data}, headers=AUTH, timeout=timeout)
    r.raise_for_status()
    body = requests.get(f"{url}/gradio_api/call/answer/{r.json()['event_id']}", headers=AUTH, timeout=timeout).text
    event = next(line.split(":", 1)[1].strip() for line in body.splitlines() if line.startswith("event:"))
    payload = json.loads(next(line.split(":", 1)[1] for line in body.splitlines() if line.startswith("data:")))
    return event, payload[0] if event == "complete" else payload


# --- 1. a storm of streams -----------------------------------------------------------------------
def test_64_streams_finish_or_get_a_quick_503_while_healthz_answers(indexed_settings, tmp_path, timed):
    """Before: 64 streams froze the server: 34 got 503 after exactly 30 s and /healthz timed out
    (the slot was waited for inside worker threads the slot holders needed)."""
    db = tmp_path / "db"
    shutil.copytree(indexed_settings.db, db)
    env = child_env(EPISODE_ASSISTANT_API_TOKEN=TOKEN)
    questions = candidate_questions()[:16]
    with serving(db, tmp_path, env) as (url, log):
        timed("server up")
        assert requests.get(f"{url}/?token={TOKEN}", allow_redirects=False, timeout=10).status_code == 303
        # the chat's door (Gradio's worker threads, the sync slot wait) at the same time
        chat: list = []
        chats = [
            threading.Thread(target=lambda q=q: chat.append(gradio_answer(url, q)), daemon=True) for q in questions[:8]
        ]
        for t in chats:
            t.start()
        got = storm(url, questions, n=64, headers=AUTH, timeout=28.0, health_timeout=2.0)
        for t in chats:
            t.join(30)
        summary = got.summary()
        timed(f"storm: {summary}; chat: {[event for event, _ in chat]}")
    for s in got.streams:
        assert s.status in (200, 503), (s.status, s.error, s.seconds)
        if s.status == 200:
            assert s.completed and s.events.count("answer") == 1 and "error" not in s.events, s.events
        else:
            assert s.retry_after, s
    assert summary["completed"] >= 4, summary  # the server answers, it does not only refuse
    assert got.health and all(h.status == 200 for h in got.health), [h for h in got.health if h.status != 200][:3]
    assert "token=[redacted]" in log.read_text() and TOKEN not in log.read_text()  # the access log
    assert len(chat) == 8, chat  # every chat call ended (none hung)
    for event, payload in chat:
        assert event == "complete" and payload["citations"] or "busy" in str(payload), (event, payload)


# --- 3. a write that died before the overview ---------------------------------------------------
def test_a_write_killed_before_its_overview_leaves_nothing_retrievable(writable_store_settings, tmp_path, monkeypatch):
    """Before: the half-written episode's chunks were retrieved (dense and BM25), cited and
    counted by /healthz, although `list` hid it."""
    from assistant.retriever import HybridRetriever
    from benchmarks.synth import generate
    from ui.service import AnswerService
    from vectorstore.chunks import episode_chunks, section_counts
    from vectorstore.episode import load_episode
    from vectorstore.store import EpisodeStore, manifest_for

    store = EpisodeStore(writable_store_settings)
    chunks_before, episodes_before = store.count(), store.episodes()
    [path] = generate(1, tmp_path / "episodes", seed=16)  # bundled size: two write batches
    episode = load_episode(path)
    chunks = episode_chunks(episode)
    assert len(chunks) > 256
    question = next(c.text for c in chunks if c.section == "quotes")
    vector = store.embeddings.embed_query(question)  # every chunk of it as near as can be
    manifest = manifest_for(str(path), episode.content_hash, section_counts(chunks), episode.date, episode.duration)
    upsert = store._collection.upsert

    def dies_at_the_overview(**batch):
        if any(i.endswith("/overview/0") for i in batch["ids"]):
            raise KeyboardInterrupt("kill -9 between the chunks and the overview")
        return upsert(**batch)

    monkeypatch.setattr(store._collection, "upsert", dies_at_the_overview)
    with pytest.raises(KeyboardInterrupt):
        store.write_episode(episode.id, chunks, [vector] * len(chunks), manifest)
    monkeypatch.undo()
    assert store.stray_episode_ids() == {episode.id}  # its first 256 chunks are in the store

    for reader in (store, EpisodeStore(writable_store_settings)):  # the writer's handle and a fresh one
        assert reader.episodes() == episodes_before and reader.count() == chunks_before
        assert not [c.id for c in reader.query(vector, 50) if c.id.startswith(episode.id)]
        assert not [c.id for c in reader.chunks() if c.id.startswith(episode.id)]
        for mode in ("hybrid", "dense", "bm25"):
            hits = HybridRetriever(store=reader, mode=mode, k=20, revision_check_seconds=0).search(question).hits
            assert hits and not [h.id for h in hits if h.id.startswith(episode.id)], mode
        health = AnswerService(SimpleNamespace(store=reader), 1).health()
        assert health == {"episodes": len(episodes_before), "chunks": chunks_before}


# --- 2 and 7. one Chroma server under two running servers: rebuilt elsewhere, hung, resumed --------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``chroma run`` + two ``serve`` processes on it (short store and health deadlines), the
    bread episode ingested. Yields (chroma process, chroma URL, [server URLs], work folder)."""
    from test_scale_out import BREAD, BREAD_ID, chroma_running

    tmp = tmp_path_factory.mktemp("cluster")
    with chroma_running(tmp) as (chroma, url):
        episodes = tmp / "episodes"
        episodes.mkdir()
        (episodes / f"001_{BREAD_ID}.txt").write_text(BREAD, encoding="utf-8")
        env = child_env(
            EPISODE_ASSISTANT_STORE_TIMEOUT="3",
            EPISODE_ASSISTANT_HEALTH_TIMEOUT="1",
            EPISODE_ASSISTANT_EPISODES_DIR=str(episodes),
        )
        with serving(url, tmp, env) as (a, _), serving(url, tmp, env) as (b, _):
            yield chroma, url, [a, b], tmp


def ask_status(base: str, question: str, timeout: float = 30) -> tuple[int, dict]:
    r = requests.post(f"{base}/api/ask", json={"question": question}, timeout=timeout)
    return r.status_code, r.json()


def test_a_rebuild_from_another_process_is_followed_by_answers_from_every_server(cluster, timed):
    """Before: both servers kept the dropped collection's handle and answered 503 NotFoundError
    on /healthz and /api/ask until restarted."""
    from test_scale_out import BEES, BEES_ID, BREAD_ID, Q_BEES, Q_BREAD, cli_ingest, wait_until

    _, url, servers, tmp = cluster
    for base in servers:
        status, answer = ask_status(base, Q_BREAD)
        assert status == 200 and {c["episode_id"] for c in answer["citations"]} == {BREAD_ID}, answer
    bees = tmp / "new" / f"002_{BEES_ID}.txt"
    bees.parent.mkdir(exist_ok=True)
    bees.write_text(BEES, encoding="utf-8")
    proc = cli_ingest(url, "--rebuild", str(bees), cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    timed("rebuilt by a third process")

    def answers_from_the_rebuilt_store(base: str):
        status, answer = ask_status(base, Q_BEES)
        assert status == 200, answer  # never a lasting 503
        return BEES_ID in {c["episode_id"] for c in answer["citations"]} and answer

    for base in servers:
        wait_until(lambda base=base: answers_from_the_rebuilt_store(base), f"{base} answering after the rebuild", 30)
        health = requests.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["episodes"] == 1, health.text
        status, answer = ask_status(base, Q_BREAD)  # the old episode is gone from every answer
        assert status == 200 and BREAD_ID not in {c["episode_id"] for c in answer["citations"]}
    timed("both servers answer from the rebuilt store")


def test_a_hung_chroma_gives_503_within_the_deadline_and_recovery_after_it_resumes(cluster, timed):
    """Before: with the Chroma server stopped (SIGSTOP), /healthz and /api/ask hung (no timeout
    on Chroma's HTTP client), holding worker threads and answer slots."""
    from test_scale_out import Q_BEES, wait_until

    from ui.service import HEALTH_FRESH_SECONDS

    chroma, _, servers, _ = cluster
    base = servers[0]
    assert ask_status(base, Q_BEES)[0] == 200
    os.killpg(chroma.pid, signal.SIGSTOP)
    try:
        time.sleep(HEALTH_FRESH_SECONDS)  # counts read just before the stop may be reused this long
        # store_timeout 3 s, health_timeout 1 s in this cluster; the client waits far longer
        health = requests.get(f"{base}/healthz", timeout=15)
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        timed(f"/healthz 503 in {health.elapsed.total_seconds():.1f} s")

        def timed_ask(_) -> tuple[int, float]:
            t = time.monotonic()
            return ask_status(base, Q_BEES, timeout=40)[0], round(time.monotonic() - t, 1)

        with ThreadPoolExecutor(6) as pool:  # more than the 4 answer slots: none stays held
            results = list(pool.map(timed_ask, range(6)))
        assert [status for status, _ in results] == [503] * 6, results
        timed(f"6 asks while Chroma is stopped: (status, seconds) {results}")
    finally:
        os.killpg(chroma.pid, signal.SIGCONT)
    for b in servers:
        wait_until(lambda b=b: requests.get(f"{b}/healthz", timeout=5).status_code == 200, "healthz after SIGCONT", 30)
        assert ask_status(b, Q_BEES)[0] == 200
    timed("recovered after SIGCONT")


# --- 5, 6 and the low items of ingest ----------------------------------------------------------------
def small_episode(folder: Path, seed: int = 5) -> Path:
    from benchmarks.synth import generate

    [path] = generate(1, folder, seed=seed, max_quotes=2, max_entities=1, max_summary_sections=1, max_summary_chars=300)
    return path


def test_identical_copies_under_other_names_are_skipped_when_unchanged(tmp_path, settings, timed):
    """Before: 30 same-content copies -> 29 "updated" (re-embedded) on every run: the unchanged
    check looked up the hash among all manifests and found another copy's."""
    from vectorstore.ingest import ingest
    from vectorstore.store import EpisodeStore

    source = small_episode(tmp_path / "one")
    folder = tmp_path / "copies"
    folder.mkdir()
    for i in range(30):
        shutil.copy(source, folder / f"copy-{i:02d}.txt")
    store = EpisodeStore(settings)
    assert [r.status for r in ingest([folder], store, progress=False)] == ["added"] * 30
    timed("30 copies added")
    t = time.monotonic()
    again = ingest([folder], store, progress=False)
    timed(f"unchanged re-ingest of 30 copies: {time.monotonic() - t:.2f} s")
    assert [r.status for r in again] == ["skipped"] * 30
    assert len(store.episodes()) == 30


def test_yaml_aliases_are_refused_with_the_line(tmp_path):
    """Before: 400 aliases of one long quote in a 230 KB file made a 388 MB store."""
    from vectorstore.episode import EpisodeError, load_episode

    quote = "word " * 200
    aliases = "".join("- text: *long\n" for _ in range(400))
    path = tmp_path / "aliases.txt"
    path.write_text(f"---\ntitle: T\nsummary: '## S'\nquotes:\n- text: &long '{quote}'\n{aliases}---\n")
    with pytest.raises(EpisodeError) as err:
        load_episode(path)
    assert str(err.value) == f"{path}:6: YAML aliases (*long) are not allowed in episode files: write the value out"
    merge = tmp_path / "merge.txt"
    merge.write_text("---\nbase: &b {title: T}\n<<: *b\nsummary: '## S'\n---\n")
    with pytest.raises(EpisodeError, match=r"merge.txt:3: YAML aliases \(\*b\)"):
        load_episode(merge)


def test_special_files_are_refused_and_reads_are_bounded(tmp_path):
    """Before: `ingest FIFO` blocked forever, a character device was read until MemoryError (here
    /dev/null: "file is empty"), folder scans skipped FIFOs and dangling links without a word, and
    max_file_bytes was checked on the size stat reports (0 for /proc files), not on the bytes read."""
    from vectorstore.episode import EpisodeError, read_episode_bytes

    with pytest.raises(EpisodeError, match=r"file is too large \(over 100 bytes"):
        read_episode_bytes(Path("/proc/self/maps"), max_bytes=100)

    folder = tmp_path / "episodes"
    good = small_episode(folder)
    os.mkfifo(folder / "fifo.txt")
    (folder / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    fifo = tmp_path / "lone-fifo.txt"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [*CLI, "--db", str(tmp_path / "db"), "ingest", "--json", "--no-progress", str(folder), str(fifo), "/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,  # a blocking read of the FIFO would end here
        env=child_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {fifo}: not a regular file (a FIFO): episode files must be regular files",
        "error: /dev/null: not a regular file (a character device): episode files must be regular files",
    ]
    results = {Path(r["file"]).name: r for r in json.loads(proc.stdout)["episodes"]}
    assert results[good.name]["status"] == "added"
    assert results["fifo.txt"]["status"] == "skipped" and "not a regular file (a FIFO)" in results["fifo.txt"]["error"]
    assert (
        results["dangling.txt"]["status"] == "skipped" and "dangling symbolic link" in results["dangling.txt"]["error"]
    )


def test_an_id_another_file_still_gives_is_refused_naming_both_files(tmp_path, settings):
    """Before: a file with the same `id:`, ingested in a later run, silently replaced the other
    file's episode."""
    from vectorstore.ingest import ingest
    from vectorstore.store import EpisodeStore

    def episode(folder: Path, title: str) -> Path:
        folder.mkdir()
        path = folder / "episode.txt"
        path.write_text(f"---\ntitle: {title}\nid: shared-id\nsummary: '## S\n\n  {title} in depth.'\n---\n")
        return path

    first, second = episode(tmp_path / "a", "Sourdough"), episode(tmp_path / "b", "Beekeeping")
    store = EpisodeStore(settings)
    assert [r.status for r in ingest([first], store, progress=False)] == ["added"]
    [r] = ingest([second], store, progress=False)
    assert r.status == "failed"
    assert r.error == (
        f"{second}:3: episode id 'shared-id' is already the id of {first.resolve()}; "
        "give one of the two files another id"
    )
    assert store.episode("shared-id")["file"] == str(first.resolve())
    first.unlink()  # moved away: now the id is free for the other file
    assert [r.status for r in ingest([second], store, progress=False)] == ["updated"]


# --- the low items of the app --------------------------------------------------------------------
from test_api import RL  # noqa: E402


@pytest.fixture(scope="module")
def portal(indexed_settings):
    """The extractive settings (``portal.base``), one assistant for every app built here, and
    ``portal.client(root_path="", **settings)``: a TestClient of an app with those settings changed."""
    from fastapi.testclient import TestClient

    from assistant.chain import EpisodeAssistant
    from ui.app import create_app

    base = indexed_settings.model_copy(update={"answerer": "extractive"})
    bot = EpisodeAssistant(base)

    def client(root_path: str = "", **settings) -> TestClient:
        return TestClient(create_app(base.model_copy(update=settings), bot, root_path=root_path))

    return SimpleNamespace(base=base, bot=bot, client=client, app=lambda: create_app(base, bot))


def test_query_token_counts_only_on_the_page_and_redirects_stay_on_site(portal):
    """Before: ?token= was accepted on every route and method, and `GET //evil.example/?token=`
    answered 303 to `//evil.example/` (off-site)."""
    c = portal.client(api_token=TOKEN)
    q = f"token={TOKEN}"
    assert c.post(f"/api/ask?{q}", json={"question": RL}).status_code == 401
    assert c.get(f"/config?{q}").status_code == 401
    assert c.get(f"/gradio_api/info?{q}").status_code == 401
    assert not c.cookies
    r = c.get(f"http://testserver//evil.example/?{q}", follow_redirects=False)
    assert r.status_code == 401 and "location" not in r.headers
    r = c.get(f"/?{q}&lang=en", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?lang=en"
    assert c.get("/config").status_code == 200  # the cookie now counts everywhere
    r = portal.client("/assistant", api_token=TOKEN).get(f"/assistant/?{q}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/assistant/"


def test_tokens_are_redacted_from_access_log_lines():
    import logging

    from ui.security import RedactToken

    # the shape of uvicorn's access-log record
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/?lang=en&token={TOKEN}&x=1", "1.1", 303),
        None,
    )
    assert RedactToken().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /?lang=en&token=[redacted]&x=1 HTTP/1.1" 303'


def test_session_cookies_differ_expire_and_end_with_the_token(portal):
    """Before: one cookie value for everyone, valid forever (even after the token changed it was
    derived from... only then did it stop)."""
    from ui.security import TOKEN_COOKIE, PortalAuth

    c = portal.client(api_token=TOKEN, session_max_age=600)
    first = c.get(f"/?token={TOKEN}", follow_redirects=False)
    assert "Max-Age=600" in first.headers["set-cookie"]
    one = c.cookies[TOKEN_COOKIE]
    c.cookies.clear()
    c.get(f"/?token={TOKEN}", follow_redirects=False)
    assert c.cookies[TOKEN_COOKIE] != one  # per session, not one value for everyone
    assert c.get("/config").status_code == 200

    auth = PortalAuth(portal.base.model_copy(update={"api_token": TOKEN, "session_max_age": 600}))
    for cookie, status in (
        (auth.cookie_value(issued=time.time() - 601), 401),  # expired
        (auth.cookie_value(issued=time.time() - 60), 200),
        (one.replace(one[-4:], "0000") if not one.endswith("0000") else one[:-4] + "1111", 401),  # tampered
    ):
        c.cookies.clear()
        c.cookies.set(TOKEN_COOKIE, cookie)
        assert c.get("/config").status_code == status, cookie
    rotated = portal.client(api_token="a-new-token")
    rotated.cookies.set(TOKEN_COOKIE, one)
    assert rotated.get("/config").status_code == 401  # a new token ends every session


def test_uploads_are_refused(portal):
    """Before: Gradio's upload route stored any file in its temp folder (never cleaned)."""
    r = portal.client().post("/gradio_api/upload", files={"files": ("notes.txt", b"x" * 100, "text/plain")})
    assert r.status_code == 403 and r.json() == {"detail": "uploads are disabled"}


def test_a_lone_surrogate_is_a_bad_request_not_a_503(portal):
    """Before: 503 and a traceback."""
    c = portal.client()
    headers = {"content-type": "application/json"}
    for path in ("/api/ask", "/api/ask/stream"):
        r = c.post(path, content='{"question": "bad \\ud800 question"}', headers=headers)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["detail"] == (
            "the question contains an invalid character (U+D800, a lone surrogate) at position 4"
        )
    history = '{"question": "and then?", "history": [{"user": "x\\udfff", "assistant": ""}]}'
    r = c.post("/api/ask", content=history, headers=headers)
    assert r.status_code == 400 and "history turn 1 (user)" in r.json()["detail"]


def test_bodies_over_the_limit_get_413_before_parsing(portal):
    """Before: any body was accepted and parsed (100 MB too)."""
    c = portal.client(max_body_bytes=2000)
    padded = {"question": "sample efficiency?", "padding": "x" * 3000}  # unknown fields are ignored
    r = c.post("/api/ask", json=padded)
    assert r.status_code == 413 and "the limit is 2,000 (max_body_bytes)" in r.json()["detail"]
    body = json.dumps(padded).encode()
    chunked = c.post("/api/ask", content=iter([body[:1000], body[1000:]]), headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert c.post("/api/ask", json={"question": "sample efficiency?"}).status_code == 200
    small = json.dumps({"question": "sample efficiency?"}).encode()
    assert c.post("/api/ask", content=iter([small]), headers={"content-type": "application/json"}).status_code == 200


def test_gradio_answer_validates_like_the_json_api(portal):
    """Before: unknown sections and malformed history were accepted silently by /answer, where
    POST /api/ask answers 422."""

    from ui_helpers import running_app

    c = portal.client()
    assert c.post("/api/ask", json={"question": RL, "sections": ["nope"]}).status_code == 422
    assert c.post("/api/ask", json={"question": RL, "history": [{"assistant": "no user"}]}).status_code == 422
    with running_app(portal.app()) as url:
        event, answer = gradio_answer(url, RL, sections=["quotes"])
        assert event == "complete" and {c["section"] for c in answer["citations"]} == {"quotes"}
        for bad in ({"sections": ["nope"]}, {"history": [{"assistant": "no user"}]}):
            event, payload = gradio_answer(url, RL, **bad)
            assert event == "error", (bad, payload)


def test_a_trusted_header_on_a_reachable_port_is_warned_about(portal):
    from ui.server import exposure_warning

    trusted = portal.base.model_copy(update={"trusted_user_header": "X-Portal-User"})
    assert "anyone who can reach this port directly can claim any user" in exposure_warning(trusted, "0.0.0.0", 7860)
    assert "10.0.0.5:8080" in exposure_warning(trusted, "10.0.0.5", 8080)
    for host in ("127.0.0.1", "::1", "localhost"):
        assert exposure_warning(trusted, host, 7860) is None
    assert exposure_warning(portal.base, "0.0.0.0", 7860) is None
