"""The assistant as an OpenAI-compatible "model": ``GET /v1/models``, ``POST /v1/chat/completions``.

Chat front-ends that speak the OpenAI API (Open WebUI, LibreChat, the ``openai`` SDK, LangChain's
``ChatOpenAI``) can use the assistant without code of their own. Nothing here answers: the last
user message becomes the question and the turns before it the history of a ``Query`` for the same
``AnswerService`` the JSON API uses, so auth, CORS, the question limit and the concurrency limit
are the app's.

    >>> from openai import OpenAI                                                  # doctest: +SKIP
    >>> client = OpenAI(base_url="http://127.0.0.1:7860/v1", api_key="<api_token>")  # doctest: +SKIP
    >>> r = client.chat.completions.create(model="episode-assistant",              # doctest: +SKIP
    ...     messages=[{"role": "user", "content": "What do they predict about agents?"}])
    >>> r.citations[0], r.episode_assistant["refused"]                            # doctest: +SKIP
    ('e8dde77376fc3016/quotes/17', False)

Models: ``episode-assistant`` (the server's answerer), ``episode-assistant:<answerer>`` (one of
``assistant.answerers.ANSWERER_NAMES``) and ``episode-assistant:<episode_id>`` (only that episode).

The reply's content is markdown: the checked answer with ``[n]`` markers, then a "Sources" list.
``<`` and ``>`` from episode text are written as ``&lt;``/``&gt;`` there, so no chat UI renders
episode text as HTML. Beside ``choices`` the completion carries ``citations`` (``citations[n-1]``
is the citation id behind marker ``[n]``, Perplexity's convention of one string per marker) and
``episode_assistant`` (the raw answer object of ``POST /api/ask``). A stream sends ``token`` events
as content deltas, the Sources list as the last delta, and ``citations`` and ``episode_assistant``
on the final chunk.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from assistant.answer import Answer, Citation
from assistant.answerers import ANSWERER_NAMES
from assistant.errors import QuestionError
from assistant.query import Query

from .service import AnswerService, Busy, check_text

log = logging.getLogger(__name__)

MODEL = "episode-assistant"
PREFIX = "/v1/"
SOURCES_HEADING = "**Sources**"
MAX_MESSAGES = 200  # a conversation longer than this is a bad request, not work
QUOTE_CHARS = 300  # the Sources list quotes this much; the full text is in episode_assistant


# --- errors ------------------------------------------------------------------------------------
class OpenAIError(Exception):
    """An error response in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, type: str, code: str | None = None, headers=None):
        super().__init__(message)
        self.status, self.type, self.code, self.headers = status, type, code, headers or {}

    def body(self) -> dict:
        return error_body(str(self), self.type, self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(message: str, type: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def auth_error_body(message: str) -> dict:
    """What the auth middleware answers under ``/v1/`` instead of ``{"detail": ...}``."""
    return error_body(message, "invalid_request_error", "invalid_api_key")


def as_openai_error(e: Exception) -> OpenAIError:
    if isinstance(e, OpenAIError):
        return e
    if isinstance(e, QuestionError):
        code = "question_too_long" if e.status == 413 else "invalid_question"
        return OpenAIError(e.status, str(e), "invalid_request_error", code)
    if isinstance(e, Busy):
        return OpenAIError(503, str(e), "server_error", "server_busy", {"Retry-After": "5"})
    log.exception("answering failed")
    return OpenAIError(503, f"cannot answer right now ({type(e).__name__})", "server_error", "unavailable")


class OpenAIRoute(APIRoute):
    """Request-validation failures (bad JSON, a missing ``model``) and our own errors leave in
    OpenAI's shape with status 400, not as FastAPI's 422 ``{"detail": [...]}``."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request):
            try:
                return await handler(request)
            except RequestValidationError as e:
                problems = "; ".join(
                    f"{'.'.join(map(str, err['loc'][1:])) or 'body'}: {err['msg']}" for err in e.errors()
                )
                return OpenAIError(
                    400, f"invalid request: {problems}", "invalid_request_error", "invalid_body"
                ).response()
            except OpenAIError as e:
                return e.response()

        return guarded


# --- request -----------------------------------------------------------------------------------
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(description='"text" parts are read; other kinds (images) are ignored')
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """The standard body; other fields (``temperature``, ``max_tokens``, ``n``, ``stream_options`` ...)
    are accepted and ignored: the answer is the checked, cited one whatever they say."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"model": MODEL, "messages": [{"role": "user", "content": "What do they predict about agents?"}]}
            ]
        },
    )
    model: str = Field(
        max_length=200, description=f"{MODEL}, {MODEL}:<answerer> or {MODEL}:<episode_id> (see /v1/models)"
    )
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="the last user message is the question; earlier user/assistant turns are the history; "
        "system messages are ignored",
    )
    stream: bool = Field(False, description="server-sent chat.completion.chunk events ending with [DONE]")


@dataclass(frozen=True)
class ModelScope:
    """What a model name selects: an answerer, an episode, or neither (the server's defaults)."""

    id: str
    answerer: str | None = None
    episode: str | None = None
    title: str | None = None


def model_scopes(episodes: list[dict]) -> list[ModelScope]:
    return [
        ModelScope(MODEL),
        *(ModelScope(f"{MODEL}:{name}", answerer=name) for name in ANSWERER_NAMES),
        *(ModelScope(f"{MODEL}:{m['episode_id']}", episode=m["episode_id"], title=m.get("title")) for m in episodes),
    ]


def to_query(messages: list[ChatMessage], scope: ModelScope) -> Query:
    """The last user message is the question; the user/assistant turns before it the history.
    Our own Sources lists are cut from earlier assistant turns: a follow-up refers to the answer."""
    turns = [(m.role, m.text()) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise OpenAIError(400, "the last message must come from the user", "invalid_request_error", "invalid_messages")
    history: list[dict] = []
    for role, text in turns[:-1]:
        if role == "user":
            history.append({"user": text, "assistant": ""})
        elif history:  # an assistant greeting before the first question says nothing about it
            history[-1]["assistant"] = (history[-1]["assistant"] + "\n" + answer_text(text)).strip()
    return Query(turns[-1][1], tuple(history), scope.episode, scope.answerer)


# --- response ----------------------------------------------------------------------------------
def _md(text: str) -> str:
    """Episode text for a markdown renderer: no HTML tags can form."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def answer_text(content: str) -> str:
    """An earlier reply of ours as the plain answer text (no Sources list, no escaping)."""
    body = content.split("\n\n" + SOURCES_HEADING, 1)[0]
    return body.replace("&lt;", "<").replace("&gt;", ">").strip()


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > QUOTE_CHARS:
        text = text[:QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
    return text


def source_line(c: Citation) -> str:
    """``- [1] *Title* — speaker quote, quote 17 · lines 728–736: “…”``"""
    where = ", ".join(x for x in (c.kind, c.location) if x) or c.id
    title = f"*{_md(c.title)}* — " if c.title else ""
    return f"- [{c.marker}] {title}{_md(where)}: “{_md(_quote(c.text))}”"


def sources_markdown(answer: Answer) -> str:
    """What follows the answer text: a blank line and the Sources list (empty without citations)."""
    if not answer.citations:
        return ""
    return "\n\n" + SOURCES_HEADING + "\n" + "\n".join(source_line(c) for c in answer.citations)


def content(answer: Answer) -> str:
    return _md(answer.answer) + sources_markdown(answer)


def extras(answer: Answer) -> dict:
    """The fields beside ``choices``: one citation id per marker, and the full answer object."""
    return {
        "citations": [c.id for c in sorted(answer.citations, key=lambda c: c.marker)],
        "episode_assistant": answer.to_dict(),
    }


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = MODEL
    name: str = Field(description="a readable name (Open WebUI shows it): the episode title for episode models")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str = Field(description="the answer with [n] markers, then a markdown Sources list")


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    citations: list[str] = Field(description="citations[n-1] is the citation id behind marker [n]")
    episode_assistant: Answer = Field(description="the answer object of POST /api/ask")


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorModel(BaseModel):
    error: OpenAIErrorDetail


ERRORS = {
    status: {"model": OpenAIErrorModel, "description": text}
    for status, text in {
        400: "bad body or messages (no user message last, empty question)",
        401: "wrong or missing API key (Authorization: Bearer <api_token>)",
        404: "unknown model",
        413: "question longer than max_question_chars, or an over-long history",
        503: "all answer slots busy (Retry-After), or the store unreachable",
    }.items()
}


def _chunk(cid: str, created: int, model: str, delta: dict, finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


# --- routes ------------------------------------------------------------------------------------
def openai_router(service: AnswerService) -> APIRouter:
    router = APIRouter(route_class=OpenAIRoute, tags=["OpenAI-compatible"])
    created = int(time.time())

    def card(s: ModelScope) -> ModelCard:
        return ModelCard(id=s.id, created=created, name=s.title or s.id)

    fixed = {s.id: s for s in model_scopes([])}

    async def resolve(model: str) -> ModelScope:
        """A fixed name, or an episode model checked with one store read (not a listing)."""
        if model in fixed:
            return fixed[model]
        episode = model.removeprefix(f"{MODEL}:")
        meta = None
        if episode != model:
            try:
                check_text(episode, "the model name")
                meta = await run_in_threadpool(service.store.episode, episode)
            except Exception as e:
                raise as_openai_error(e) from None
        if meta is None:
            raise OpenAIError(
                404, f"The model `{model}` does not exist; see /v1/models", "invalid_request_error", "model_not_found"
            )
        return ModelScope(model, episode=episode, title=meta.get("title"))

    @router.get(
        "/v1/models", response_model=ModelList, responses=ERRORS, summary="Models: answerers and episode scopes"
    )
    async def list_models():
        try:
            episodes = await run_in_threadpool(service.store.episodes)
        except Exception as e:
            raise as_openai_error(e) from None
        return ModelList(data=[card(s) for s in model_scopes(episodes)])

    @router.get("/v1/models/{model:path}", response_model=ModelCard, responses=ERRORS, summary="One model")
    async def get_model(model: str):
        return card(await resolve(model))

    @router.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
        summary="Answer the last user message with citations (OpenAI chat completions)",
    )
    async def chat_completions(req: ChatCompletionRequest):
        query = to_query(req.messages, await resolve(req.model))
        cid, now = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if req.stream:
            events = service.stream_async(query)
            try:
                # as /api/ask/stream: the first event comes before the response starts, so a busy
                # server or a bad question still gets a real HTTP status
                first = await anext(events, None)
            except Exception as e:
                await events.aclose()
                raise as_openai_error(e) from None
            return StreamingResponse(
                completion_chunks(first, events, cid, now, req.model),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            answer = await service.ask_async(query)
        except Exception as e:
            raise as_openai_error(e) from None
        message = AssistantMessage(content=content(answer))
        return ChatCompletion(id=cid, created=now, model=req.model, choices=[Choice(message=message)], **extras(answer))

    return router


async def completion_chunks(first: dict | None, events, cid: str, created: int, model: str):
    """Chain events -> chat.completion.chunk events: ``token`` texts (final, checked text by the
    stream contract) as content deltas; ``status`` events have no OpenAI counterpart."""
    yield _chunk(cid, created, model, {"role": "assistant", "content": ""})
    try:
        event = first
        while event is not None:
            if event["type"] == "token" and event["text"]:
                yield _chunk(cid, created, model, {"content": _md(event["text"])})
            elif event["type"] == "answer":
                answer: Answer = event["answer"]
                tail = sources_markdown(answer)
                if tail:
                    yield _chunk(cid, created, model, {"content": tail})
                yield _chunk(cid, created, model, {}, "stop", **extras(answer))
            event = await anext(events, None)
    except Exception as e:
        yield f"data: {json.dumps(as_openai_error(e).body())}\n\n"
    finally:
        # shielded: on a client disconnect the scope is cancelled, and the stream must still be
        # closed to give its answer slot back
        with anyio.CancelScope(shield=True):
            await events.aclose()
    yield "data: [DONE]\n\n"
