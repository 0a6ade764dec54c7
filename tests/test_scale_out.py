"""Scale-out: one Chroma server, two ``episode-assistant serve`` processes, writers elsewhere.

    chroma run (127.0.0.1:C)  <-  serve A (--chroma-url, episodes_dir = one small episode)
                              <-  serve B (--chroma-url, episodes_dir = an empty folder)
                              <-  episode-assistant --chroma-url ... ingest FILE

A starts on the empty store and indexes its episodes_dir (the "store is empty" path of
``serve``); B, started beside it, finds nothing of its own to index. A question about A's episode
asked through B cites that episode. Then a second episode is ingested by a third process while
both servers run, and both answer from it: the BM25 index follows the store revision, not the
process's own writes. Extractive answerer throughout (deterministic, no model).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from conftest import child_env, stop
from ui_helpers import free_port

BIN = Path(sys.executable).parent
CLI = [str(BIN / "episode-assistant")] if (BIN / "episode-assistant").exists() else [sys.executable, "-m", "cli"]
CHROMA = BIN / "chroma"
HOST = "127.0.0.1"

BREAD_ID, BEES_ID = "5eed000000000b12", "5eed000000000bee"
BREAD = """---
title: 'Crumb and Crust: a sourdough masterclass'
date: 2025-03-01
duration: 41
summary: |
  ## Podcast Summary: Crumb and Crust
  A baker explains how to keep a sourdough starter alive and bake an open-crumb loaf.

  ### 1. Starter care
  Feed the starter with rye flour and water twice a day at room temperature.

  ### 2. Baking
  Bake in a preheated Dutch oven so the steam gives the loaf an open crumb and a blistered crust.
quotes:
- text: A sourdough starter stays alive if you feed it rye flour and lukewarm water twice a day and keep it at room temperature.
  relevance_score: 9
  topic: starter care
- text: Preheat the Dutch oven for a full hour; the trapped steam is what gives sourdough its blistered crust.
  impact_reason: The one baking step that changes the crust most.
  relevance_score: 8
  source: llm_enhanced
  topic: baking
companies:
- name: King Arthur Baking
  category: food
  confidence: high
  context: The flour mill whose whole rye flour the baker feeds the starter with.
  source: llm_enhanced
tags: [baking, sourdough]
---
<!-- hand-written test episode -->
"""
BEES = """---
title: 'The Hive Mind: beekeeping through the seasons'
date: 2025-04-01
duration: 37
summary: |
  ## Podcast Summary: The Hive Mind
  Two beekeepers explain how to stop honeybee colonies from swarming and how to harvest honey.

  ### 1. Swarm control
  Give the queen more room with an extra brood box and remove queen cells in late spring.

  ### 2. Honey harvest
  Harvest capped frames only and extract the honey with a centrifugal extractor.
quotes:
- text: To stop a honeybee colony from swarming, give the queen an extra brood box and cut out the queen cells every week in May.
  relevance_score: 9
  topic: swarm control
- text: Only harvest frames where the bees have capped the honey, otherwise it ferments in the jar.
  impact_reason: Explains why uncapped honey spoils.
  relevance_score: 7
  source: llm_enhanced
  topic: honey harvest
companies:
- name: Langstroth hive
  category: equipment
  confidence: high
  context: The hive design with movable frames that the beekeepers use for swarm control.
  source: llm_enhanced
tags: [beekeeping, honey]
---
<!-- hand-written test episode -->
"""
Q_BREAD = "How do I keep a sourdough starter alive?"
Q_BEES = "How do beekeepers stop a honeybee colony from swarming?"


pytestmark = pytest.mark.usefixtures("timed")


def log_tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


@contextmanager
def started(cmd: list[str], log: Path, env: dict, cwd: Path):
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)


def wait_until(check, what: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the process exited ({proc.returncode}):\n{log_tail(log) if log else ''}")
        try:
            got = check()
            if got:
                return got
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.3)
    pytest.fail(f"{what}: not within {timeout:.0f} s (last error: {last!r})\n{log_tail(log) if log else ''}")


@contextmanager
def chroma_running(folder: Path):
    """``chroma run`` on 127.0.0.1 with its data and log in ``folder``; yields ``(process, URL)``
    once its heartbeat answers (skips the test when the chroma CLI is not installed)."""
    import chromadb
    from chromadb.config import Settings

    if not CHROMA.exists() and shutil.which("chroma") is None:
        pytest.skip("the chroma CLI is not installed")
    port = free_port()
    log = folder / "chroma.log"
    cmd = [
        str(CHROMA if CHROMA.exists() else shutil.which("chroma")),
        "run",
        "--path",
        str(folder / "chroma-data"),
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    with started(cmd, log, child_env(), folder) as proc:
        # the client connects when it is made, so it is made inside the check
        wait_until(
            lambda: chromadb.HttpClient(
                host=HOST, port=port, settings=Settings(anonymized_telemetry=False)
            ).heartbeat(),
            "chroma heartbeat",
            60,
            proc,
            log,
        )
        yield proc, f"http://{HOST}:{port}"


@pytest.fixture
def chroma_server(tmp_path):
    """``chroma run`` on 127.0.0.1; yields its URL once its heartbeat answers."""
    with chroma_running(tmp_path) as (_, url):
        yield url


def cli_ingest(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``episode-assistant --chroma-url URL ingest --json --no-progress ARGS`` in another process."""
    return subprocess.run(
        [*CLI, "--chroma-url", url, "ingest", "--json", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(),
        cwd=cwd,
    )


def ask(base: str, question: str) -> dict:
    r = requests.post(f"{base}/api/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def cited_episodes(answer: dict) -> set[str]:
    return {c["episode_id"] for c in answer["citations"]}


def healthy(base: str, episodes: int):
    def check():
        r = requests.get(f"{base}/healthz", timeout=5)
        return r.status_code == 200 and r.json()["episodes"] >= episodes and r.json()

    return check


def test_two_servers_share_one_chroma_server(chroma_server, tmp_path, timed):
    a_dir, b_dir, new_dir = tmp_path / "a-episodes", tmp_path / "b-empty", tmp_path / "new"
    for d in (a_dir, b_dir, new_dir):
        d.mkdir()
    (a_dir / f"001_{BREAD_ID}.txt").write_text(BREAD, encoding="utf-8")
    bees = new_dir / f"002_{BEES_ID}.txt"
    bees.write_text(BEES, encoding="utf-8")
    url = chroma_server
    timed("chroma server up")

    port_a, port_b = free_port(), free_port()
    a_url, b_url = f"http://{HOST}:{port_a}", f"http://{HOST}:{port_b}"
    serve = [*CLI, "--chroma-url", url, "serve", "--host", HOST, "--port"]
    log_a, log_b = tmp_path / "serve-a.log", tmp_path / "serve-b.log"
    with (
        started([*serve, str(port_a)], log_a, child_env(EPISODE_ASSISTANT_EPISODES_DIR=str(a_dir)), tmp_path) as a,
        started([*serve, str(port_b)], log_b, child_env(EPISODE_ASSISTANT_EPISODES_DIR=str(b_dir)), tmp_path) as b,
    ):
        # A indexes its one episode into the empty store; B has nothing of its own to index
        wait_until(healthy(a_url, 1), "serve A healthy with its episode", 180, a, log_a)
        health_b = wait_until(healthy(b_url, 1), "serve B healthy, seeing A's episode", 180, b, log_b)
        assert health_b["episodes"] == 1
        timed("both servers up")

        # written by A's process, answered by B's
        bread = ask(b_url, Q_BREAD)
        assert not bread["refused"] and bread["answerer"] == "extractive", bread
        assert cited_episodes(bread) == {BREAD_ID}, bread["citations"]
        assert any(c["id"] == f"{BREAD_ID}/quotes/0" for c in bread["citations"]), bread["citations"]
        before = ask(b_url, Q_BEES)
        assert BEES_ID not in cited_episodes(before)

        # a third process writes while both servers run
        proc = cli_ingest(url, str(bees), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        timed("second episode ingested by a third process")

        # the fused score of a hit found by dense retrieval alone is at most dense_weight/(rrf_k+1):
        # above it, BM25 found the hit too, so that server's BM25 index holds the new episode
        from vectorstore.config import load_settings

        defaults = load_settings()
        dense_only = defaults.dense_weight / (defaults.rrf_k + 1)

        def bm25_sees_bees(base: str):
            got = ask(base, Q_BEES)
            scores = [c["score"] for c in got["citations"] if c["episode_id"] == BEES_ID]
            return got if scores and max(scores) > dense_only + 1e-6 else None

        for name, base in (("B", b_url), ("A", a_url)):
            # dense retrieval sees the new chunks at once; BM25 after its revision check (1 s)
            answer = wait_until(
                lambda base=base: bm25_sees_bees(base), f"serve {name} citing the new episode through BM25", 30
            )
            assert not answer["refused"]
            assert f"{BEES_ID}/quotes/0" in {c["id"] for c in answer["citations"]}, answer["citations"]
            assert requests.get(f"{base}/healthz", timeout=5).json()["episodes"] == 2
        # and the first episode is still answered as before
        assert {c["id"] for c in ask(b_url, Q_BREAD)["citations"]} == {c["id"] for c in bread["citations"]}
        timed("both servers answer from it")
