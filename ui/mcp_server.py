"""The assistant as MCP tools, on the official ``mcp`` SDK: over stdio (``episode-assistant mcp``)
and over streamable HTTP at ``/mcp`` on ``serve`` (behind the app's auth).

Tools (their schemas come from the type hints and field descriptions below):

* ``search_episodes(query, k, episode, sections)``: the ranked sources, each a citation object
  (``id`` is the citation id, ``marker`` the rank) with the verbatim text and its line range.
* ``ask_episode(question, history, episode)``: the answer object of ``POST /api/ask``.
* ``list_episodes()``: what is indexed.

Nothing here answers: ``ask_episode`` calls the same ``AnswerService`` as the JSON API (the same
question limit and answer slots), ``search_episodes`` the assistant's retriever.

    >>> from mcp import Client                                                    # doctest: +SKIP
    >>> async with Client("http://127.0.0.1:7860/mcp") as client:                 # doctest: +SKIP
    ...     result = await client.call_tool("ask_episode", {"question": "What about agents?"})
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Literal

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

from assistant.answer import Answer, Citation
from assistant.chain import EpisodeAssistant, citation
from assistant.errors import QuestionError
from assistant.query import Query
from vectorstore.chunks import SECTIONS
from vectorstore.filters import SearchFilter
from vectorstore.store import counts_from_manifest

from .api import Turn
from .security import split_list
from .service import AnswerService, Busy

Section = Literal[SECTIONS]  # type: ignore[valid-type]
MAX_HITS = 50
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
INSTRUCTIONS = """Answers questions about podcast episodes from their analysis files (quotes, entity
mentions, insights, summary sections). ask_episode returns an answer whose every sentence carries a
[n] marker pointing at a cited source, or a refusal when the episodes do not cover the question;
search_episodes returns the ranked sources themselves; list_episodes names the episodes (their ids
scope the other tools)."""


class EpisodeInfo(BaseModel):
    id: str = Field(description="the episode id: pass it as `episode` to scope the other tools")
    title: str | None = None
    date: str | None = None
    chunks: dict[str, int] = Field(description="how many items of each section are indexed")


def _tool_error(e: Exception) -> ToolError:
    if isinstance(e, (QuestionError, Busy)):
        return ToolError(str(e))
    return ToolError(f"cannot answer right now ({type(e).__name__})")


def build_mcp(service: AnswerService) -> MCPServer:
    # log_level: the SDK calls logging.basicConfig with it; INFO would make every library chatty
    server = MCPServer("episode-assistant", title="Episode assistant", instructions=INSTRUCTIONS, log_level="WARNING")

    async def check_episode(episode: str | None) -> None:
        if episode and await run_in_threadpool(service.store.episode, episode) is None:
            raise ToolError(f"unknown episode {episode!r}: list_episodes names the indexed ones")

    @server.tool(annotations=READ_ONLY)
    async def search_episodes(
        query: Annotated[str, Field(description="what to look for: a question or keywords")],
        k: Annotated[int, Field(ge=1, le=MAX_HITS, description="how many sources to return")] = 8,
        episode: Annotated[str | None, Field(description="only this episode id (see list_episodes)")] = None,
        sections: Annotated[
            list[Section] | None, Field(description="only these sections of the episode files (default: all)")
        ] = None,
    ) -> list[Citation]:
        """Search the episodes and return the best-matching sources, best first. Each hit is a
        citation object: `id` ({episode_id}/{section}/{index}) is its citation id, `marker` its rank,
        `text` the verbatim source, `line_start`/`line_end` its place in the episode file, `title`,
        `kind` and `location` a readable description. No answer is written: use ask_episode for one."""
        try:
            service.check(query)
            await check_episode(episode)
            flt = SearchFilter(episode=episode, sections=tuple(sections) if sections else None)
            search = partial(service.assistant.retriever.search, query, k=k, flt=flt)
            async with service.slot_async():  # searching embeds too: it counts against the answer slots
                result = await anyio.to_thread.run_sync(search, limiter=service.threads)
        except ToolError:
            raise
        except Exception as e:
            raise _tool_error(e) from None
        root = service.assistant.settings.episodes_dir  # clients see relative paths, as in answers
        return [citation(hit, rank, root) for rank, hit in enumerate(result.hits, 1)]

    @server.tool(annotations=READ_ONLY)
    async def ask_episode(
        question: Annotated[str, Field(description="the question, in plain words")],
        history: Annotated[
            list[Turn] | None,
            Field(max_length=100, description="earlier turns, oldest first: follow-ups are read against them"),
        ] = None,
        episode: Annotated[str | None, Field(description="only this episode id (see list_episodes)")] = None,
    ) -> Answer:
        """Answer a question about the episodes with citations. `answer` carries [n] markers; each
        `citations` entry with that `marker` gives the citation id, the verbatim source text and its
        line range. `refused` is true (and `reason` says why) when the episodes do not cover the
        question: then say so rather than answering from elsewhere."""
        try:
            await check_episode(episode)
            turns = tuple(t.model_dump() for t in history or ())
            return await service.ask_async(Query(question, turns, episode))
        except ToolError:
            raise
        except Exception as e:
            raise _tool_error(e) from None

    @server.tool(annotations=READ_ONLY)
    async def list_episodes() -> list[EpisodeInfo]:
        """The indexed episodes: id, title, date and how many items of each section are indexed."""
        episodes = await run_in_threadpool(service.store.episodes)
        return [
            EpisodeInfo(id=m["episode_id"], title=m.get("title"), date=m.get("date"), chunks=counts_from_manifest(m))
            for m in episodes
        ]

    return server


def run_stdio(assistant: EpisodeAssistant, settings) -> int:
    """Serve the tools over stdin/stdout until the client closes them (``episode-assistant mcp``)."""
    assistant.warm_up()  # before the client's first call, not during it
    build_mcp(AnswerService.from_settings(assistant, settings)).run("stdio")
    return 0


class OriginCheck:
    """The MCP transport spec asks servers to check ``Origin`` (DNS rebinding): a browser request
    from an origin not in ``allowed_origins`` is refused. Clients that are not browsers send none.
    (The SDK's own check also pins the Host header, which behind a portal's proxy we cannot know.)"""

    def __init__(self, app, allowed_origins: list[str]):
        self.app = app
        self.allowed = frozenset(allowed_origins)

    async def __call__(self, scope, receive, send):
        origin = Headers(scope=scope).get("origin")
        if origin and origin not in self.allowed:
            return await PlainTextResponse("origin not allowed", 403)(scope, receive, send)
        await self.app(scope, receive, send)


def mount_mcp(app, service: AnswerService, settings, path: str = "/mcp") -> MCPServer:
    """Serve the tools at ``path`` of a FastAPI app (stateless streamable HTTP with JSON replies,
    so any replica can answer any request). Call before the catch-all Gradio mount. The app's
    middleware (auth, CORS) applies, and its lifespan runs the SDK's session manager, which a
    mounted sub-app's own lifespan would not."""
    server = build_mcp(service)
    server.streamable_http_app(
        streamable_http_path=path,
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    app.add_route(
        path, OriginCheck(StreamableHTTPASGIApp(server.session_manager), split_list(settings.allowed_origins))
    )
    parent = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        async with server.session_manager.run(), parent(a) as state:
            yield state

    app.router.lifespan_context = lifespan
    return server
