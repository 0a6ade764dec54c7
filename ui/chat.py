"""The Gradio chat: streamed, cited answers with their sources, filters and example questions.

Gradio endpoints (stable names for ``gradio_client``):

* ``/ask``: the chat itself: ``(message, episode, sections, answerer) -> message HTML``.
* ``/answer``: ``(question, history, episode, answerer, sections) -> answer object`` (a dict, the
  same as ``POST /api/ask``), for scripts that want data rather than HTML.
"""

from __future__ import annotations

import logging
import os

# before gradio is imported: no analytics, no update checks, no hub calls
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from assistant.answerers import ANSWERER_NAMES  # noqa: E402
from assistant.errors import QuestionError  # noqa: E402
from assistant.query import Query  # noqa: E402
from vectorstore.chunks import SECTION_BY_NAME  # noqa: E402

from . import render  # noqa: E402
from .service import AnswerService, Busy  # noqa: E402

log = logging.getLogger(__name__)

TITLE = "Episode assistant"
# Taken from the bundled episode ("Is RL + LLMs enough for AGI?"); the last shows a refusal.
EXAMPLES = [
    "What has changed in the past year with RL and language models?",
    "What do they predict about software engineering agents?",
    "Why is software engineering improving faster than other domains?",
    "sample efficiency?",
    "What do they say about climate policy?",
]
FILTER_SECTIONS = [(SECTION_BY_NAME[name].label, name) for name in ("quotes", "companies", "summary", "insights")]
ALL_EPISODES = ""

CSS = """
.ea-answer { line-height: 1.55; }
.ea-pending { opacity: .75; }
.ea-ref { font-size: .75em; color: var(--color-accent); }
.ea-note { font-size: .85em; opacity: .75; margin-top: .4em; }
.ea-notice { border-left: 4px solid #d97706; background: #fef3c7; color: #78350f;
             padding: .6em .8em; border-radius: 6px; }
.ea-notice.ea-error { border-color: #dc2626; background: #fee2e2; color: #7f1d1d; }
.ea-sources { margin-top: .6em; font-size: .9em; }
.ea-sources summary { cursor: pointer; font-weight: 600; }
.ea-source-list { list-style: none; padding-left: 0; margin: .4em 0 0; }
.ea-source { margin: .5em 0; padding-left: .6em; border-left: 3px solid var(--border-color-primary); }
.ea-marker { font-weight: 600; }
.ea-meta { font-size: .85em; opacity: .8; margin-top: .2em; }
"""


def episode_choices(service: AnswerService) -> list[tuple[str, str]]:
    try:
        metas = service.store.episodes()
    except Exception:  # the chat still loads; questions will report the store problem
        log.exception("cannot list episodes")
        metas = []
    return [("All episodes", ALL_EPISODES)] + [(m.get("title") or m["episode_id"], m["episode_id"]) for m in metas]


def _content_text(content) -> str:
    """Gradio message content: a string, a list of parts, or a dict with "text"."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(_content_text(c) for c in content if not (isinstance(c, dict) and "path" in c))
    return ""


def history_turns(messages: list[dict] | None) -> list[dict]:
    """Gradio's ``[{role, content}]`` messages -> the chain's ``[{user, assistant}]`` turns."""
    turns: list[dict] = []
    for m in messages or []:
        text = _content_text(m.get("content"))
        if m.get("role") == "user":
            turns.append({"user": text, "assistant": ""})
        elif m.get("role") == "assistant" and turns:
            turns[-1]["assistant"] = (turns[-1]["assistant"] + " " + render.plain_text(text)).strip()
    return turns


def build_chat(service: AnswerService, default_answerer: str = "auto") -> gr.Blocks:
    def respond(message: str, history: list[dict], episode: str, sections: list[str], answerer: str):
        streamed = ""
        try:
            for event in service.stream(Query(message, history_turns(history), episode, answerer, sections)):
                if event["type"] == "token":
                    streamed += event["text"]
                    yield render.pending_html(streamed)
                else:  # the checked answer replaces the streamed text: markers were renumbered
                    yield render.answer_html(event["answer"])
        except QuestionError as e:
            yield render.notice_html(str(e), "error")
        except Busy as e:
            yield render.notice_html(str(e), "busy")
        except Exception as e:
            log.exception("chat answer failed")
            yield render.notice_html(f"Sorry, answering failed ({type(e).__name__}). Please try again.", "error")

    def answer(
        question: str,
        history: list[dict] | None = None,
        episode: str | None = None,
        answerer: str | None = None,
        sections: list[str] | None = None,
    ) -> dict:
        try:
            return service.ask(Query(question, history or (), episode, answerer, sections)).to_dict()
        except (QuestionError, Busy) as e:
            raise gr.Error(str(e)) from None

    with gr.Blocks(title=TITLE, analytics_enabled=False, fill_height=True) as demo:
        gr.Markdown(
            f"## {TITLE}\nAsk about the indexed podcast episodes. Every answer cites the "
            "quotes and notes it comes from; open **Sources** under an answer to see them."
        )
        with gr.Row(equal_height=True):
            episode = gr.Dropdown(episode_choices(service), value=ALL_EPISODES, label="Episode", scale=3)
            sections = gr.CheckboxGroup(FILTER_SECTIONS, value=[], label="Search only in (none = everything)", scale=3)
            answerer = gr.Radio(list(ANSWERER_NAMES), value=default_answerer, label="Answerer", scale=2)
        gr.ChatInterface(
            respond,
            chatbot=gr.Chatbot(
                label="Conversation",
                latex_delimiters=[],
                sanitize_html=True,
                feedback_options=None,
                buttons=["copy"],
                scale=1,
            ),
            additional_inputs=[episode, sections, answerer],
            examples=[[q] for q in EXAMPLES],
            api_name="ask",
            api_description="Chat: streams the reply as HTML (answer, then a Sources panel).",
            concurrency_limit=service.limit,
            analytics_enabled=False,
            fill_height=True,
        )
        gr.api(
            answer,
            api_name="answer",
            concurrency_limit=service.limit,
            api_description="The answer object as data (same as POST /api/ask).",
        )
        # new episodes ingested while the server runs show up on the next page load
        demo.load(
            lambda: gr.Dropdown(choices=episode_choices(service)),
            None,
            episode,
            api_visibility="private",
            show_progress="hidden",
        )
    return demo
