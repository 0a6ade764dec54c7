"""The JSON API: ``POST /api/ask``, ``POST /api/ask/stream`` (server-sent events), ``GET /healthz``.

The request and response models are what ``/docs`` shows; the answer object is
``assistant.answer.Answer.to_dict()``, the same one the CLI prints with ``ask --json``.
"""

from __future__ import annotations

import json
import logging
from typing import Literal

import anyio
from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from assistant.answer import Answer
from assistant.answerers import ANSWERER_NAMES
from assistant.errors import QuestionError
from assistant.query import Query
from vectorstore.chunks import SECTIONS
from vectorstore.store import StoreError

from .service import AnswerService, Busy

log = logging.getLogger(__name__)

AnswererName = Literal[ANSWERER_NAMES]  # type: ignore[valid-type]
Section = Literal[SECTIONS]  # type: ignore[valid-type]


class Turn(BaseModel):
    user: str = Field(description="an earlier question")
    assistant: str = Field("", description="the answer it got (plain text)")


class AskRequest(BaseModel):
    question: str = Field(
        description="the question; longer than max_question_chars -> 413",
        examples=["What has changed in the past year with RL and language models?"],
    )
    history: list[Turn] = Field(
        default_factory=list,
        max_length=100,
        description="earlier turns, oldest first; follow-ups are read against them",
    )
    episode: str | None = Field(None, description="only this episode id (see /healthz and `episode-assistant list`)")
    answerer: AnswererName | None = Field(None, description="default: the server's answerer setting")
    sections: list[Section] | None = Field(None, description="only these sections of the episode files")

    def to_query(self) -> Query:
        return Query(
            self.question, tuple(t.model_dump() for t in self.history), self.episode, self.answerer, self.sections
        )


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    episodes: int = 0
    chunks: int = 0


class ErrorModel(BaseModel):
    detail: str = Field(description="what went wrong, in words")


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before asking again", "schema": {"type": "integer"}}}
# Every status the answer endpoints return besides 200, with its JSON body. 422 is FastAPI's own
# (`{"detail": [{"loc", "msg", "type", ...}]}`, added to the schema by FastAPI).
ERRORS = {
    400: {"model": ErrorModel, "description": "the question is empty, has no words, or holds an invalid character"},
    401: {
        "model": ErrorModel,
        "description": "missing or wrong token, or missing trusted-user header (with `WWW-Authenticate: Bearer`)",
    },
    404: {"model": ErrorModel, "description": "`episode` names no indexed episode"},
    413: {
        "model": ErrorModel,
        "description": "question longer than max_question_chars, history too long, or body over max_body_bytes",
    },
    503: {
        "model": ErrorModel,
        "description": "all answer slots stayed busy, or the store is unreachable (both with `Retry-After`)",
        "headers": RETRY_AFTER,
    },
}

STREAM_DOC = """Server-sent events: `status` events (`{"type": "status", "stage": "searching"}`, then
`"writing"`) while the answer is prepared, `token` events (`{"type": "token", "text": ...}`) with
each checked sentence (final: their concatenation is the answer text), then one `answer` event
(`{"type": "answer", "answer": <answer object>}`). A failure after the stream started arrives as an
`error` event (`{"detail": ...}`); failures before it are the HTTP statuses below."""


def _http_error(e: Exception) -> HTTPException:
    if isinstance(e, QuestionError):
        return HTTPException(e.status, str(e))
    if isinstance(e, Busy):
        return HTTPException(503, str(e), headers={"Retry-After": "5"})
    if isinstance(e, StoreError):  # one line: a traceback per request would flood the log
        log.error("answering failed: %s", e)
        return HTTPException(503, "cannot answer right now (the store is unavailable)", headers={"Retry-After": "5"})
    log.exception("answering failed")
    return HTTPException(503, f"cannot answer right now ({type(e).__name__})")


def _event(event: dict) -> dict:
    if event["type"] == "answer":
        answer: Answer = event["answer"]
        return {
            "event": "answer",
            "data": json.dumps({"type": "answer", "answer": answer.to_dict()}, ensure_ascii=False),
        }
    return {"event": event["type"], "data": json.dumps(event, ensure_ascii=False)}


def api_router(service: AnswerService) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/api/ask",
        response_model=Answer,
        responses=ERRORS,
        tags=["answers"],
        summary="Answer a question with citations",
    )
    async def ask(req: AskRequest) -> dict:
        try:
            answer = await service.ask_async(req.to_query())
        except Exception as e:
            raise _http_error(e) from None
        return answer.to_dict()

    @router.post(
        "/api/ask/stream",
        responses={200: {"content": {"text/event-stream": {}}, "description": STREAM_DOC}, **ERRORS},
        tags=["answers"],
        summary="Answer a question, streamed as server-sent events",
        response_class=EventSourceResponse,
    )
    async def ask_stream(req: AskRequest):
        events = service.stream_async(req.to_query())
        try:
            # the first event is produced before the response starts, so a busy server or a bad
            # question still gets a real HTTP status instead of a 200 with an error event
            first = await anext(events, None)
        except Exception as e:
            await events.aclose()
            raise _http_error(e) from None
        return EventSourceResponse(_relay(first, events))

    @router.get(
        "/healthz",
        response_model=Health,
        responses={503: {"model": Health}},
        tags=["service"],
        summary="Store reachable? How many episodes and chunks?",
    )
    async def healthz():
        try:
            counts = await service.health_async()  # bounded by health_timeout, whatever the load
        except (TimeoutError, StoreError) as e:
            log.error("health check: %s", e or f"the store did not answer within {service.health_timeout:g} s")
            return JSONResponse(Health(status="unavailable").model_dump(), status_code=503)
        except Exception:
            log.exception("health check: store unreachable")
            return JSONResponse(Health(status="unavailable").model_dump(), status_code=503)
        return Health(status="ok", **counts)

    return router


async def _relay(first: dict | None, events):
    try:
        event = first
        while event is not None:
            yield _event(event)
            event = await anext(events, None)
    except Exception as e:
        if isinstance(e, StoreError):
            log.error("answer stream failed: %s", e)
        else:
            log.exception("answer stream failed")
        yield {"event": "error", "data": json.dumps({"detail": f"answering failed ({type(e).__name__})"})}
    finally:
        # shielded: on a client disconnect the scope is cancelled, and the stream must still be
        # closed to give its answer slot back
        with anyio.CancelScope(shield=True):
            await events.aclose()
