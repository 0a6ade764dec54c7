"""Holding under load and faults (issue 16): a storm of streams, a Chroma rebuild or hang under
running servers, half-written episodes, hostile files and requests.

Servers run as real ``episode-assistant serve`` subprocesses on 127.0.0.1 (extractive answerer);
every wait is bounded.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading

import requests
from test_load import candidate_questions, serving

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
    assert len(chat) == 8, chat  # every chat call ended (none hung)
    for event, payload in chat:
        assert event == "complete" and payload["citations"] or "busy" in str(payload), (event, payload)
