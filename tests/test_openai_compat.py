"""The OpenAI-compatible endpoint (/v1/models, /v1/chat/completions) driven by the official
``openai`` SDK and LangChain's ``ChatOpenAI`` against a server on 127.0.0.1. The store holds the
bundled episode and a small one whose text carries an HTML payload; extractive answerer."""

from __future__ import annotations

import json
import re
import shutil

import anyio
import openai
import pytest
import requests

from assistant.answer import Answer
from assistant.chain import EpisodeAssistant
from assistant.query import Query
from ui.app import create_app
from ui.openai_compat import SOURCES_HEADING, answer_text, completion_chunks, content
from vectorstore.ingest import ingest
from vectorstore.store import EpisodeStore

from conftest import EPISODE_ID
from ui_helpers import XSS, quote_citation, running_app, write_xss_episode

TOKEN = "s3cret"
RL = "What has changed in the past year with RL and language models?"
AGENTS = "What do they predict about software engineering agents?"
KITCHEN_ID = "0123456789abcdef"  # write_xss_episode's episode
SOURDOUGH = "What does the best sourdough starter need?"


@pytest.fixture(scope="module")
def settings(indexed_settings, tmp_path_factory):
    """The bundled episode plus the HTML-payload one, in a private copy of the indexed store."""
    db = tmp_path_factory.mktemp("openai") / "db"
    shutil.copytree(indexed_settings.db, db)
    s = indexed_settings.model_copy(update={"db": str(db), "answerer": "extractive", "api_token": TOKEN})
    folder = write_xss_episode(db.parent / "episodes").parent
    assert [r.status for r in ingest([folder], EpisodeStore(s), progress=False)] == ["added"]
    return s


@pytest.fixture(scope="module")
def bot(settings):
    return EpisodeAssistant(settings)


@pytest.fixture(scope="module")
def url(settings, bot):
    with running_app(create_app(settings, bot)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0, timeout=60)


def ask(client, question, model="episode-assistant", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}], **kw)


def body_and_sources(text: str) -> tuple[str, list[str]]:
    body, _, sources = text.partition("\n\n" + SOURCES_HEADING + "\n")
    return body, sources.splitlines()


# --- models ------------------------------------------------------------------------------------
def test_models_list_names_answerers_and_episodes(client, bot):
    models = {m.id: m for m in client.models.list()}
    assert {"episode-assistant", "episode-assistant:extractive", "episode-assistant:llm"} <= set(models)
    assert {f"episode-assistant:{EPISODE_ID}", f"episode-assistant:{KITCHEN_ID}"} <= set(models)
    title = bot.store.episode(EPISODE_ID)["title"]
    assert models[f"episode-assistant:{EPISODE_ID}"].name == title  # what Open WebUI shows
    assert all(m.object == "model" and m.owned_by == "episode-assistant" for m in models.values())
    assert client.models.retrieve(f"episode-assistant:{EPISODE_ID}").id == f"episode-assistant:{EPISODE_ID}"


# --- answers -----------------------------------------------------------------------------------
def test_answer_with_markers_sources_and_citations(client, bot):
    r = ask(client, RL)
    expected = bot.ask(RL)
    assert r.object == "chat.completion" and r.model == "episode-assistant"
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.role == "assistant"
    assert r.episode_assistant == expected.to_dict()  # the answer object of POST /api/ask
    assert r.citations == [c.id for c in expected.citations] and r.citations
    body, sources = body_and_sources(r.choices[0].message.content)
    assert body == expected.answer
    markers = sorted({int(n) for n in re.findall(r"\[(\d+)\]", body)})
    assert markers == list(range(1, len(r.citations) + 1))  # citations[n-1] is marker [n]
    assert len(sources) == len(expected.citations)
    for line, c in zip(sources, expected.citations):
        assert line.startswith(f"- [{c.marker}] *{c.title}* — {c.kind}, {c.location}: “")
        assert " ".join(c.text.split())[:80] in line


def test_streamed_chunks_carry_the_same_answer_and_end_with_citations(client, url):
    chunks = list(ask(client, RL, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    whole = ask(client, RL)
    assert streamed == whole.choices[0].message.content  # checked text only, then the Sources list
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and not last.choices[0].delta.content
    assert last.citations == whole.citations and last.episode_assistant == whole.episode_assistant
    assert all(getattr(c, "citations", None) is None for c in chunks[:-1])
    # on the wire: plain `data:` events, the last one [DONE]
    raw = requests.post(
        f"{url}/v1/chat/completions",
        json={"model": "episode-assistant", "stream": True, "messages": [{"role": "user", "content": RL}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    events = [e for e in raw.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    assert json.loads(events[-2][len("data: ") :])["citations"] == whole.citations


def test_follow_up_through_messages(client, bot):
    first = ask(client, AGENTS)
    reply = first.choices[0].message.content
    r = client.chat.completions.create(
        model="episode-assistant",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},  # ignored
            {"role": "user", "content": AGENTS},
            {"role": "assistant", "content": reply},
            {"role": "user", "content": [{"type": "text", "text": "by when?"}]},  # content parts work too
        ],
    )
    got = r.episode_assistant
    assert got["question"] == "by when?" and AGENTS in got["standalone_question"] and not got["refused"]
    # the history the service saw: our Sources list is cut from the earlier reply
    assert answer_text(reply) == first.episode_assistant["answer"]
    history = ({"user": AGENTS, "assistant": first.episode_assistant["answer"]},)
    assert got == bot.ask(Query("by when?", history)).to_dict()


def test_refusal_and_episode_models_scope_the_question(client):
    """The sourdough question is answered from the kitchen episode and refused by the bundled one."""
    refused = ask(client, SOURDOUGH, model=f"episode-assistant:{EPISODE_ID}")
    got = refused.episode_assistant
    assert got["refused"] and got["reason"] and not got["citations"] and refused.citations == []
    assert refused.choices[0].message.content == got["answer"]  # no Sources list under a refusal
    answered = ask(client, SOURDOUGH, model=f"episode-assistant:{KITCHEN_ID}")
    assert not answered.episode_assistant["refused"]
    assert answered.citations and all(i.startswith(f"{KITCHEN_ID}/") for i in answered.citations)


def test_episode_text_cannot_become_html_in_the_content(client):
    for stream in (False, True):
        r = ask(client, SOURDOUGH, model=f"episode-assistant:{KITCHEN_ID}", stream=stream)
        if stream:
            chunks = list(r)
            text, raw = "".join(c.choices[0].delta.content or "" for c in chunks), chunks[-1].episode_assistant
        else:
            text, raw = r.choices[0].message.content, r.episode_assistant
        assert XSS in json.dumps(raw, ensure_ascii=False)  # the answer object keeps the verbatim text
        assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def test_answerer_model_and_ignored_sampling_options(client):
    r = ask(client, RL, model="episode-assistant:extractive", temperature=0.2, max_tokens=5, n=1, top_p=0.5)
    assert r.episode_assistant["answerer"] == "extractive" and r.citations


def test_stream_relays_only_token_text_and_puts_citations_last():
    """Status events (progress stages) have no OpenAI counterpart; token texts pass as they are."""
    cite = quote_citation(1, text="A.", title="T")
    answer = Answer("q", "q", "A [1]. B.", False, [cite])
    events = [
        {"type": "status", "stage": "searching"},
        {"type": "token", "text": "A [1]."},
        {"type": "status", "stage": "writing"},
        {"type": "token", "text": " B."},
        {"type": "answer", "answer": answer},
    ]

    async def rest():
        for e in events[1:]:
            yield e

    async def collect():
        return [part async for part in completion_chunks(events[0], rest(), "chatcmpl-x", 0, "episode-assistant")]

    parts = anyio.run(collect)
    assert parts[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(p[len("data: ") :]) for p in parts[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert [d.get("content") for d in deltas[1:-1]] == [
        "A [1].",
        " B.",
        "\n\n**Sources**\n- [1] *T* — speaker quote, quote 17 · lines 728–736: “A.”",
    ]
    assert deltas[-1] == {} and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["citations"] == ["e/quotes/17"] and chunks[-1]["episode_assistant"] == answer.to_dict()


# --- errors ------------------------------------------------------------------------------------
def test_wrong_key_gets_401_in_openai_shape(url):
    bad = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.models.list()
    assert e.value.status_code == 401 and e.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        ask(bad, RL)
    # other routes keep their {"detail": ...} body
    r = requests.post(f"{url}/api/ask", json={"question": RL}, headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 401 and "detail" in r.json()


def test_oversized_question_gets_413(client, settings):
    question = "why? " * (settings.max_question_chars // 5 + 1)
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as e:
            ask(client, question, stream=stream)
        assert e.value.status_code == 413 and e.value.code == "question_too_long"
        assert f"the limit is {settings.max_question_chars:,}" in e.value.message


def test_bad_requests_get_400_and_unknown_models_404(client, url):
    with pytest.raises(openai.NotFoundError) as e:
        ask(client, RL, model="gpt-4o")
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("episode-assistant:ffffffffffffffff")
    with pytest.raises(openai.BadRequestError) as e:  # the last message must be the user's question
        client.chat.completions.create(
            model="episode-assistant", messages=[{"role": "user", "content": RL}, {"role": "assistant", "content": "x"}]
        )
    assert e.value.code == "invalid_messages"
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "   ")
    assert e.value.code == "invalid_question"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for body in ({"messages": [{"role": "user", "content": RL}]}, {"model": "episode-assistant", "messages": []}):
        r = requests.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error", r.text


def test_busy_server_gets_503_with_retry_after(settings, bot):
    app = create_app(settings.model_copy(update={"max_concurrent_answers": 1}), bot)
    service = app.state.service
    service.wait = 0.2
    with running_app(app) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=TOKEN, max_retries=0)
        with service.slot():  # the only slot is taken
            for stream in (False, True):
                with pytest.raises(openai.APIStatusError) as e:
                    ask(client, RL, stream=stream)
                assert e.value.status_code == 503 and e.value.response.headers["retry-after"]
                assert e.value.code == "server_busy"
        assert ask(client, RL).citations  # the slot was given back


# --- LangChain ---------------------------------------------------------------------------------
def test_langchain_chat_openai(url, bot):
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=f"{url}/v1", api_key=TOKEN, model="episode-assistant", max_retries=0, timeout=60)
    expected = content(bot.ask(RL))
    msg = llm.invoke(RL)
    assert isinstance(msg, AIMessage) and msg.content == expected
    assert "".join(chunk.content for chunk in llm.stream(RL)) == expected
    follow = llm.invoke([HumanMessage(AGENTS), AIMessage(content(bot.ask(AGENTS))), HumanMessage("by when?")])
    history = ({"user": AGENTS, "assistant": bot.ask(AGENTS).answer},)
    assert follow.content == content(bot.ask(Query("by when?", history)))
