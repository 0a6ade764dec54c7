"""Load: 32 concurrent ``POST /api/ask`` against one real server, each answered as if alone.

``episode-assistant serve`` runs in a subprocess on 127.0.0.1 over a copy of the indexed store
(extractive answerer, default concurrency limit of answer slots). 32 questions whose answers cite
different sources are first asked one at a time; then all 32 at once (released together by a
barrier, twice, in two orders). Every concurrent request must get 200 and exactly the answer it
got alone: same citation ids in the same order, same text, its own question echoed back; so no
answer carries another request's citations.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml

from conftest import ROOT, child_env, stop
from ui_helpers import free_port

BIN = Path(sys.executable).parent
CLI = [str(BIN / "episode-assistant")] if (BIN / "episode-assistant").exists() else [sys.executable, "-m", "cli"]
HOST = "127.0.0.1"
N = 32
# used besides the eval set's questions when those give fewer than N distinct citation lists
EXTRA = [
    "What is mechanistic interpretability?",
    "What do they say about Anthropic?",
    "What is said about Google?",
    "Who is Sam Rodriguez?",
    "What about the Pulitzer Prize?",
    "What do they say about the Nobel Prize?",
    "How many synapses does the human brain have?",
    "What happens with taxes and TurboTax?",
    "What is backtracking in RL?",
    "What about robotics companies?",
    "What is said about data centers?",
    "What are the tags of the episode?",
    "How long is the episode?",
    "What about AlphaGo?",
    "Where does Scale AI's revenue come up?",
    "What is the bitter lesson?",
    "What about Claude 3 Sonnet features?",
    "What about long-running agentic performance?",
    "What is said about unit tests?",
    "What about computer use?",
    "What is the biggest change in the past year?",
    "What did they say about OpenAI's compute multiplier?",
    "How do models do on Pokemon?",
    "What about boilerplate website code?",
    "What about misalignment?",
]


pytestmark = pytest.mark.usefixtures("timed")


@contextmanager
def serving(store: Path | str, workdir: Path, env: dict | None = None, timeout: float = 180):
    """``episode-assistant serve`` over ``store`` (a folder, or a Chroma server's http URL) on a
    free 127.0.0.1 port; yields ``(url, log path)`` once ``/healthz`` answers; SIGTERM (then
    SIGKILL) at the end."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    where = ["--chroma-url", store] if str(store).startswith("http") else ["--db", str(store)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*CLI, *where, "serve", "--host", HOST, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or child_env(),
            cwd=workdir,
            start_new_session=True,
        )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serve exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"serve did not answer /healthz within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.3)
        yield url, log
    finally:
        stop(proc)


@pytest.fixture
def server(timed, indexed_settings, tmp_path):
    """``episode-assistant serve`` over a private copy of the indexed store; yields its URL."""
    db = tmp_path / "db"
    shutil.copytree(indexed_settings.db, db)
    with serving(db, tmp_path) as (url, _):
        timed("server up")
        yield url


def candidate_questions() -> list[str]:
    data = yaml.safe_load((ROOT / "eval" / "questions.yaml").read_text(encoding="utf-8"))
    asked = [
        q["question"]
        for q in data["questions"]
        if not q.get("history") and q.get("kind") not in ("unanswerable", "followup")
    ]
    return list(dict.fromkeys(asked + EXTRA))


def ask(url: str, question: str) -> tuple[int, dict | str]:
    r = requests.post(f"{url}/api/ask", json={"question": question}, timeout=120)
    return r.status_code, (r.json() if r.status_code == 200 else r.text)


def signature(answer: dict) -> tuple:
    return tuple(c["id"] for c in answer["citations"])


def test_32_concurrent_asks_each_get_their_own_answer(server, timed):
    # one at a time first: the reference answers, and 32 questions whose citation lists all differ
    alone: dict[str, dict] = {}
    seen: set[tuple] = set()
    for q in candidate_questions():
        status, answer = ask(server, q)
        assert status == 200, answer
        if answer["refused"] or not answer["citations"] or signature(answer) in seen:
            continue
        seen.add(signature(answer))
        alone[q] = answer
        if len(alone) == N:
            break
    assert len(alone) == N, f"only {len(alone)} questions with distinct citations"
    timed(f"{N} questions asked one at a time")

    questions = list(alone)
    for round_, order in enumerate((questions, random.Random(32).sample(questions, N))):
        barrier = threading.Barrier(N, timeout=60)

        def together(q: str, barrier=barrier):
            barrier.wait()  # all 32 requests leave at once
            started = time.monotonic()
            status, answer = ask(server, q)
            return q, status, answer, time.monotonic() - started

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=N) as pool:
            results = list(pool.map(together, order))
        wall = time.monotonic() - t0
        assert [status for _, status, _, _ in results] == [200] * N, [a for _, s, a, _ in results if s != 200][:3]
        for q, _, answer, _ in results:
            assert answer["question"] == q
            assert signature(answer) == signature(alone[q]), (q, signature(answer), signature(alone[q]))
            assert answer == alone[q], q  # text, markers, positions, scores: all as when asked alone
        latencies = sorted(t for *_, t in results)
        timed(
            f"round {round_ + 1}: {N} concurrent asks in {wall:.2f} s "
            f"(latency median {latencies[N // 2]:.2f} s, max {latencies[-1]:.2f} s)"
        )
