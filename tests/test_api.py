"""The FastAPI app: JSON API and SSE, health, portal security (token, trusted header, CORS,
frame-ancestors), the question bound and the concurrency limit, gradio_client, a path prefix,
and the chat's HTML escaping. Extractive answerer throughout: fast and deterministic."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import requests
from fastapi.testclient import TestClient

from assistant.answer import Answer
from assistant.chain import EpisodeAssistant
from ui import render
from ui.app import create_app
from ui.chat import history_turns

from conftest import EPISODE_ID, ROOT, child_env, stop
from ui_helpers import XSS, free_port, quote_citation, running_app, write_xss_episode

RL = "What has changed in the past year with RL and language models?"
PORTAL = "https://portal.example.com"


@pytest.fixture(scope="module")
def base(indexed_settings):
    return indexed_settings.model_copy(update={"answerer": "extractive"})


@pytest.fixture(scope="module")
def bot(base):
    """One assistant (embedding model, BM25 index) shared by every app built here."""
    return EpisodeAssistant(base)


@pytest.fixture(scope="module")
def client(base, bot):
    return TestClient(create_app(base, bot))


def make_client(base, bot, **settings) -> TestClient:
    return TestClient(create_app(base.model_copy(update=settings), bot))


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


# --- API ---------------------------------------------------------------------------------------
def test_openapi_documents_the_endpoints_and_models(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/ask/stream", "/healthz"} <= set(spec["paths"])
    assert {"AskRequest", "Answer", "Citation", "Turn", "Health", "ErrorModel"} <= set(spec["components"]["schemas"])
    ask = spec["paths"]["/api/ask"]["post"]
    assert ask["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AskRequest")
    assert ask["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Answer")
    assert {"401", "413", "503"} <= set(ask["responses"])
    assert "text/event-stream" in spec["paths"]["/api/ask/stream"]["post"]["responses"]["200"]["content"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_ask_returns_the_answer_object(client, bot):
    r = client.post("/api/ask", json={"question": RL})
    assert r.status_code == 200
    got = r.json()
    assert got == bot.ask(RL).to_dict()  # exactly Answer.to_dict()
    assert not got["refused"] and got["citations"]
    for c in got["citations"]:
        assert c["id"].startswith(f"{EPISODE_ID}/") and f"[{c['marker']}]" in got["answer"]
        assert 0 < c["line_start"] <= c["line_end"] and c["text"]
        # the server's absolute path stays on the server: the file relative to the episodes folder
        assert c["file"] == "000_e8dde77376fc3016.txt", c["file"]


def test_ask_refuses_what_the_episode_does_not_cover(client):
    got = client.post("/api/ask", json={"question": "Can you give me a good chocolate cake recipe?"}).json()
    assert got["refused"] and not got["citations"] and got["answer"].startswith("Not covered")


def test_follow_up_reads_the_history_and_filters_apply(client):
    first = "What do they predict about software engineering agents?"
    got = client.post(
        "/api/ask",
        json={
            "question": "by when?",
            "history": [{"user": first, "assistant": "..."}],
            "episode": EPISODE_ID,
            "sections": ["quotes"],
        },
    ).json()
    assert first in got["standalone_question"] and not got["refused"]
    assert {c["section"] for c in got["citations"]} == {"quotes"}
    assert client.post("/api/ask", json={"question": RL, "answerer": "nope"}).status_code == 422


def test_stream_sends_tokens_then_the_answer_object(client, bot):
    r = client.post("/api/ask/stream", json={"question": RL})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [k for k, _ in events]
    assert [data["stage"] for kind, data in events if kind == "status"] == ["searching", "writing"]
    assert kinds[:2] == ["status", "status"] and kinds[-1] == "answer" and set(kinds[2:-1]) == {"token"}
    final = events[-1][1]["answer"]
    assert final == bot.ask(RL).to_dict()
    # nothing sent is ever taken back: each token continues the final answer's text, in order
    sent = ""
    for kind, data in events:
        if kind == "token":
            sent += data["text"]
            assert final["answer"].startswith(sent), sent
    assert sent == final["answer"]


def test_over_long_questions_get_413(client, base):
    question = "why? " * (base.max_question_chars // 5 + 1)
    for path in ("/api/ask", "/api/ask/stream"):
        r = client.post(path, json={"question": question})
        assert r.status_code == 413, path
        assert f"the limit is {base.max_question_chars:,}" in r.json()["detail"]
    assert client.post("/api/ask", json={"question": "   "}).status_code == 400


def test_answers_wait_for_a_free_slot_then_503(base, bot):
    c = make_client(base, bot, max_concurrent_answers=1)
    service = c.app.state.service
    service.wait = 0.2
    with service.slot():  # the only slot is taken
        r = c.post("/api/ask", json={"question": RL})
        assert r.status_code == 503 and r.headers["retry-after"] and "busy" in r.json()["detail"]
        assert c.post("/api/ask/stream", json={"question": RL}).status_code == 503
    assert c.post("/api/ask", json={"question": RL}).status_code == 200  # the slot was given back


def test_healthz(client, base):
    assert client.get("/healthz").json() == {
        "status": "ok",
        "episodes": 1,
        "chunks": client.app.state.service.store.count(),
    }

    class DownStore:
        def episodes(self):
            raise ConnectionError("chroma is down")

        count = episodes

    down = TestClient(create_app(base, SimpleNamespace(store=DownStore(), settings=base)))
    r = down.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "unavailable"


# --- portal security ---------------------------------------------------------------------------
def test_api_token_guards_api_and_ui(base, bot):
    c = make_client(base, bot, api_token="s3cret")
    for method, path in (
        ("post", "/api/ask"),
        ("post", "/api/ask/stream"),
        ("get", "/"),
        ("get", "/config"),
        ("get", "/gradio_api/info"),
        ("get", "/docs"),
    ):
        r = c.request(method, path, json={"question": RL})
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
    wrong = c.post("/api/ask", json={"question": RL}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = c.post("/api/ask", json={"question": RL}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["citations"]
    assert c.get("/healthz").status_code == 200  # probes stay open


def test_iframe_token_becomes_a_cookie(base, bot):
    c = make_client(base, bot, api_token="s3cret")
    r = c.get("/?token=s3cret&lang=en", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?lang=en"  # token gone from the URL
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "s3cret" not in cookie
    page = c.get("/?lang=en")  # the client now carries the cookie
    assert page.status_code == 200 and "<gradio-app" in page.text
    assert c.get("/config").status_code == 200
    assert c.get("/?token=wrong", follow_redirects=False).status_code == 200  # the cookie still counts
    c.cookies.clear()
    assert c.get("/?token=wrong", follow_redirects=False).status_code == 401


def test_trusted_user_header(base, bot):
    c = make_client(base, bot, trusted_user_header="X-Portal-User")
    assert c.post("/api/ask", json={"question": RL}).status_code == 401
    assert c.get("/").status_code == 401
    assert "X-Portal-User" in c.get("/").json()["detail"]
    who = {"X-Portal-User": "alice"}
    assert c.post("/api/ask", json={"question": RL}, headers=who).status_code == 200
    assert c.get("/", headers=who).status_code == 200
    assert c.get("/gradio_api/user", headers=who).json() == "alice"  # Gradio sees the same user


def test_cors_only_for_listed_origins(base, bot):
    c = make_client(base, bot, allowed_origins=f"{PORTAL}, https://other.example.com")
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    ok = c.options("/api/ask", headers={"Origin": PORTAL, **pre})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == PORTAL
    bad = c.options("/api/ask", headers={"Origin": "https://evil.example", **pre})
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
    post = c.post("/api/ask", json={"question": RL}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in post.headers
    # Gradio's own routes: its middleware would echo any origin; the parent's policy wins
    assert "access-control-allow-origin" not in c.get("/config", headers={"Origin": "https://evil.example"}).headers
    assert c.get("/config", headers={"Origin": PORTAL}).headers["access-control-allow-origin"] == PORTAL


def test_no_allowed_origins_means_same_origin_only(client):
    for path in ("/api/ask", "/config", "/gradio_api/info"):
        r = client.request(
            "POST" if path == "/api/ask" else "GET",
            path,
            json={"question": RL},
            headers={"Origin": "https://evil.example"},
        )
        assert "access-control-allow-origin" not in r.headers, path


def test_frame_ancestors_on_every_response(client, base, bot):
    for r in (
        client.get("/"),
        client.get("/healthz"),
        client.post("/api/ask", json={"question": "x" * 5000}),
        client.get("/no-such-page"),
    ):
        assert r.headers["content-security-policy"] == "frame-ancestors 'self'"
    c = make_client(base, bot, frame_ancestors=f"'self' {PORTAL}", api_token="s3cret")
    assert c.get("/").status_code == 401
    assert c.get("/").headers["content-security-policy"] == f"frame-ancestors 'self' {PORTAL}"


# --- gradio_client and a path prefix ------------------------------------------------------------
def test_gradio_client_round_trip_with_token(base, bot):
    from gradio_client import Client

    app = create_app(base.model_copy(update={"api_token": "s3cret"}), bot)
    with running_app(app) as url:
        assert requests.get(f"{url}/gradio_api/info", timeout=10).status_code == 401
        client = Client(
            url + "/",
            headers={"Authorization": "Bearer s3cret"},
            verbose=False,
            download_files=False,
            analytics_enabled=False,
        )
        answer = client.predict(question=RL, api_name="/answer")
        assert answer == bot.ask(RL).to_dict()
        html = client.predict(RL, "", [], "extractive", api_name="/ask")
        client.close()
        assert "Sources" in html and answer["citations"][0]["id"] in html


def test_root_path_with_and_without_the_prefix(base, bot):
    from gradio_client import Client

    with running_app(create_app(base, bot, root_path="/assistant")) as url:
        page = requests.get(f"{url}/assistant/", timeout=10)
        assert page.status_code == 200 and '"root":"http://127.0.0.1' in page.text.replace(" ", "")
        assert f'{url}/assistant"' in page.text  # Gradio's assets and API resolve under the prefix
        r = requests.post(f"{url}/assistant/api/ask", json={"question": RL}, timeout=60)
        assert r.status_code == 200 and r.json()["citations"]
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200  # a proxy that strips it
        assert "/assistant/openapi.json" in requests.get(f"{url}/assistant/docs", timeout=10).text
        client = Client(f"{url}/assistant/", verbose=False, download_files=False, analytics_enabled=False)
        assert client.predict(question=RL, api_name="/answer")["citations"]
        client.close()


def test_serve_indexes_an_empty_store_and_honours_root_path(tmp_path):
    """The real `episode-assistant serve` in a subprocess: empty store -> bundled episodes indexed."""
    episodes = tmp_path / "episodes"
    write_xss_episode(episodes)
    port = free_port()
    env = child_env(EPISODE_ASSISTANT_EPISODES_DIR=str(episodes))
    cmd = [
        sys.executable,
        "-m",
        "cli",
        "--db",
        str(tmp_path / "db"),
        "serve",
        "--port",
        str(port),
        "--root-path",
        "/assistant",
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/assistant"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                health = requests.get(f"{url}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "server did not start in 120 s"
                time.sleep(0.3)
        assert health.json() == {"status": "ok", "episodes": 1, "chunks": health.json()["chunks"]}
        assert requests.get(f"{url}/", timeout=10).status_code == 200
        got = requests.post(
            f"{url}/api/ask", json={"question": "What does the best sourdough starter need?"}, timeout=60
        ).json()
        assert got["citations"][0]["id"] == "0123456789abcdef/quotes/0"
    finally:
        stop(proc, timeout=20)


# --- the chat's HTML ------------------------------------------------------------------------------
def test_chat_html_escapes_episode_text():
    c = quote_citation(1, relevance_score=9.0, location=None)  # location from the lines
    html = render.answer_html(Answer("q", "q", f"“We bake {XSS} daily.” [1]", False, [c]))
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "\n\n" not in html  # one HTML block: markdown must not re-read the text
    assert all(s in html for s in ("<details", "e/quotes/17", "lines 728–736", "transcript char 12,345", "relevance 9"))
    refused = render.answer_html(Answer("q", "q", f"Not covered: “{XSS}”", True))
    assert "ea-notice" in refused and "<img" not in refused and "<details" not in refused
    assert render.plain_text(html) == f"“We bake {XSS} daily.” [1]"


def test_history_turns_from_gradio_messages():
    answer_html = render.answer_html(Answer("q", "q", "Agents improve fast. [1]", False, []))
    messages = [
        {"role": "user", "content": "What do they predict about software engineering agents?"},
        {"role": "assistant", "content": answer_html},
        {"role": "user", "content": [{"type": "text", "text": "by when?"}]},
        {"role": "assistant", "content": render.notice_html("Not covered: x")},
    ]
    assert history_turns(messages) == [
        {"user": "What do they predict about software engineering agents?", "assistant": "Agents improve fast. [1]"},
        {"user": "by when?", "assistant": "Not covered: x"},
    ]


def test_portal_example_is_offline_and_configurable():
    page = (ROOT / "ui" / "portal_example.html").read_text(encoding="utf-8")
    assert 'get("app")' in page and "<iframe" in page
    assert "<script src" not in page and "<link" not in page and "https://" not in page.split("<html", 1)[1]
