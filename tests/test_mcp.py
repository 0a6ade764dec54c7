"""The MCP tools through the official ``mcp`` SDK client: over stdio (``python -m cli mcp`` as a
child process on a test store) and over streamable HTTP at /mcp on a server on 127.0.0.1, with and
without the API token. Extractive answerer: the answers equal the JSON API's."""

from __future__ import annotations

import sys

import anyio
import httpx2
import pytest
import requests
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from assistant.chain import EpisodeAssistant
from assistant.query import Query
from ui.app import create_app

from conftest import EPISODE_ID, ROOT, child_env
from ui_helpers import running_app

TOKEN = "s3cret"
RL = "What has changed in the past year with RL and language models?"
AGENTS = "What do they predict about software engineering agents?"
PORTAL = "https://portal.example.com"


@pytest.fixture(scope="module")
def bot(indexed_settings):
    """The extractive assistant whose answers the tools must give; ``bot.settings`` are the server's."""
    return EpisodeAssistant(indexed_settings.model_copy(update={"answerer": "extractive"}))


def call(connection, steps):
    """Run ``steps(client)`` inside ``async with connection``; returns what it returns."""

    async def main():
        async with connection as client:
            return await steps(client)

    return anyio.run(main)


async def exercise_all_tools(client) -> dict:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    out = {"tools": tools}
    out["episodes"] = await client.call_tool("list_episodes", {})
    out["search"] = await client.call_tool(
        "search_episodes", {"query": "sample efficiency", "k": 3, "sections": ["quotes"], "episode": EPISODE_ID}
    )
    out["ask"] = await client.call_tool("ask_episode", {"question": RL})
    out["follow_up"] = await client.call_tool(
        "ask_episode", {"question": "by when?", "history": [{"user": AGENTS, "assistant": "..."}]}
    )
    out["too_long"] = await client.call_tool("ask_episode", {"question": "why? " * 1000})
    out["unknown_episode"] = await client.call_tool("search_episodes", {"query": "agents", "episode": "nope"})
    return out


def check_results(out: dict, bot) -> None:
    tools = out["tools"]
    assert set(tools) == {"search_episodes", "ask_episode", "list_episodes"}
    for tool in tools.values():  # each documented with its schema
        assert tool.description and tool.output_schema
        assert all(p.get("description") for p in tool.input_schema.get("properties", {}).values()), tool.name
    assert set(tools["search_episodes"].input_schema["properties"]) == {"query", "k", "episode", "sections"}
    assert set(tools["ask_episode"].input_schema["properties"]) == {"question", "history", "episode"}

    episodes = out["episodes"]
    assert not episodes.is_error
    assert [e["id"] for e in episodes.structured_content["result"]] == [EPISODE_ID]
    assert episodes.structured_content["result"][0]["chunks"]["quotes"] > 0

    hits = out["search"].structured_content["result"]
    expected = bot.retriever.search("sample efficiency", k=3, flt=_quotes_of_episode())
    assert [h["id"] for h in hits] == [h.id for h in expected.hits] and len(hits) == 3
    assert [h["marker"] for h in hits] == [1, 2, 3]
    for h in hits:
        assert h["id"].startswith(f"{EPISODE_ID}/quotes/") and h["text"] and h["line_start"] <= h["line_end"]
        assert h["kind"] and h["location"] and h["title"]

    answer = out["ask"].structured_content
    assert not out["ask"].is_error and answer == bot.ask(RL).to_dict()  # the answer object of /api/ask
    assert answer["citations"] and f"[{answer['citations'][0]['marker']}]" in answer["answer"]

    follow = out["follow_up"].structured_content
    assert AGENTS in follow["standalone_question"]
    assert follow == bot.ask(Query("by when?", ({"user": AGENTS, "assistant": "..."},))).to_dict()

    assert out["too_long"].is_error and "the limit is" in out["too_long"].content[0].text
    assert out["unknown_episode"].is_error and "unknown episode" in out["unknown_episode"].content[0].text


def _quotes_of_episode():
    from vectorstore.filters import SearchFilter

    return SearchFilter(episode=EPISODE_ID, sections=("quotes",))


def test_stdio_client_calls_all_three_tools(bot):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli", "--db", str(bot.settings.db), "mcp"],
        env=child_env(),
        cwd=str(ROOT),
    )
    out = call(Client(params, read_timeout_seconds=120), exercise_all_tools)
    check_results(out, bot)


def http_client(url: str, headers: dict, statuses: list | None = None):
    """An SDK client over streamable HTTP sending ``headers``; records the HTTP statuses it got."""

    async def record(response):
        if statuses is not None:
            statuses.append(response.status_code)

    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120), event_hooks={"response": [record]})

    class Connected:
        async def __aenter__(self):
            await http.__aenter__()
            self.client = Client(streamable_http_client(f"{url}/mcp", http_client=http))
            return await self.client.__aenter__()

        async def __aexit__(self, *exc):
            try:
                return await self.client.__aexit__(*exc)
            finally:
                await http.__aexit__(*exc)

    return Connected()


def test_http_with_and_without_the_token(bot):
    app = create_app(bot.settings.model_copy(update={"api_token": TOKEN, "allowed_origins": PORTAL}), bot)
    with running_app(app) as url:
        out = call(http_client(url, {"Authorization": f"Bearer {TOKEN}"}), exercise_all_tools)
        check_results(out, bot)

        for headers in ({}, {"Authorization": "Bearer wrong"}):
            statuses = []
            with pytest.raises(Exception):  # noqa: B017 (the SDK wraps the 401 in a generic MCPError group)
                call(http_client(url, headers, statuses), lambda client: client.list_tools())
            assert statuses and set(statuses) == {401}, statuses
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}}
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = requests.post(f"{url}/mcp", json=ping, headers=headers, timeout=10)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"

        # a browser page from an origin that is not allowed is refused (DNS rebinding); a listed one is not
        auth = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}
        r = requests.post(f"{url}/mcp", json=ping, headers={**auth, "Origin": "https://evil.example"}, timeout=10)
        assert r.status_code == 403
        r = requests.post(f"{url}/mcp", json=ping, headers={**auth, "Origin": PORTAL}, timeout=10)
        assert r.status_code == 200, r.text
