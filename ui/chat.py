"""The Gradio chat: streamed, cited answers with their sources, options and example questions.

Gradio endpoints (stable names for ``gradio_client``):

* ``/ask``: the chat itself: ``(message, episode, sections, answerer) -> message HTML``.
* ``/answer``: ``(question, history, episode, answerer, sections) -> answer object`` (a dict, the
  same as ``POST /api/ask``), for scripts that want data rather than HTML.

The page is the conversation first; the episode and section filters and the answer style sit
behind one "Options" control under the input. A reply shows "Searching the episode…" at once,
then "Writing the answer…", then the checked sentences as they come, then the final answer with
its sources.
"""

from __future__ import annotations

import logging
import os

# before gradio is imported: no analytics, no update checks, no hub calls
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from assistant.answerers import auto_choice  # noqa: E402
from assistant.errors import QuestionError  # noqa: E402
from assistant.query import Query  # noqa: E402
from vectorstore.chunks import SECTION_BY_NAME  # noqa: E402

from . import render  # noqa: E402
from .api import AskRequest  # noqa: E402
from .examples import ExampleQuestions  # noqa: E402
from .service import AnswerService, Busy  # noqa: E402

log = logging.getLogger(__name__)

TITLE = "Episode assistant"
INTRO = (
    "Ask about the indexed podcast episodes. Every answer cites where it comes from: "
    "click a marker like [1] to see the quote."
)
FILTER_SECTIONS = [(SECTION_BY_NAME[name].label, name) for name in ("quotes", "companies", "summary", "insights")]
ALL_EPISODES = ""

CSS = """
.ea-answer { line-height: 1.55; }
.ea-pending { opacity: .85; }
a.ea-ref, sup.ea-ref { font-size: .75em; vertical-align: super; line-height: 1; }
a.ea-ref { display: inline-block; padding: 0 .25em; margin-left: .1em; border-radius: 4px; text-decoration: none;
           color: var(--color-accent); background: var(--color-accent-soft); }
a.ea-ref:hover, a.ea-ref:focus { text-decoration: underline; }
.ea-progress { display: flex; align-items: center; gap: .5em; opacity: .8; font-style: italic; margin-top: .3em; }
.ea-spinner { display: inline-block; width: .9em; height: .9em; border-radius: 50%; flex: none;
              border-width: 2px; border-color: var(--border-color-primary); border-top-color: var(--color-accent);
              animation: ea-spin .8s linear infinite; }
@keyframes ea-spin { to { transform: rotate(360deg); } }
.ea-note { font-size: .85em; opacity: .75; margin-top: .4em; }
.ea-notice { border-left: 4px solid #d97706; background: #fef3c7; color: #78350f;
             padding: .6em .8em; border-radius: 6px; }
.ea-notice.ea-error { border-color: #dc2626; background: #fee2e2; color: #7f1d1d; }
.ea-suggestions { display: flex; flex-wrap: wrap; gap: .4em; margin-top: .6em; align-items: center; }
.ea-suggest-label { font-size: .85em; opacity: .8; width: 100%; }
button.ea-suggest { text-align: left; padding: .35em .7em; border-radius: 999px; cursor: pointer;
                    border: 1px solid var(--border-color-accent); background: var(--background-fill-primary);
                    color: var(--body-text-color); font-size: .9em; }
button.ea-suggest:hover, button.ea-suggest:focus { background: var(--color-accent-soft); }
.ea-sources { margin-top: .6em; font-size: .9em; }
.ea-sources summary { cursor: pointer; }
.ea-source-list { list-style: none; padding-left: 0 !important; margin: .4em 0 0; }
.ea-source { margin: .6em 0; padding: .2em 0 .2em .7em; border-left: 3px solid var(--border-color-primary);
             scroll-margin: 1em; transition: background-color .4s; overflow-wrap: anywhere; }
.ea-source.ea-flash { background: var(--color-accent-soft); border-left-color: var(--color-accent); }
.ea-source-head { font-size: .85em; }
.ea-marker { color: var(--color-accent); }
/* Gradio's bundled Source Sans SemiBold is a subset (a handful of glyphs): bold text falls back to
   a wider font glyph by glyph. Emphasis here is the regular face, stroked. */
.ea-answer strong, .ea-source strong, .ea-kind, .ea-marker, .ea-sources summary, a.ea-ref {
  font-weight: 400 !important; -webkit-text-stroke: .03em currentColor; }
.ea-source .ea-quote { margin: .25em 0 !important; padding: 0 !important; border: 0 !important; font-style: normal; }
.ea-h { display: inline-block; margin-top: .2em; }
.ea-where { font-size: .85em; opacity: .85; }
.ea-episode { font-style: italic; }
.ea-meta { font-size: .75em; opacity: .6; margin-top: .1em; }
.ea-meta code { font-size: 1em; padding: 0; background: none; }
/* the floating "scroll down" arrow sits on top of the text it would scroll to */
.scroll-down-button-container { display: none !important; }
/* narrow screens (a phone, a portal's side panel): the conversation gets the width. clamp(), not
   @media: Gradio scopes rules inside @media to its inner container, which .main.app encloses. */
.main.app { padding-left: clamp(6px, (100vw - 420px) / 7, 32px) !important;
            padding-right: clamp(6px, (100vw - 420px) / 7, 32px) !important; }
.message-row.panel { padding-left: clamp(6px, (100vw - 420px) / 14, 16px) !important;
                     padding-right: clamp(6px, (100vw - 420px) / 14, 16px) !important; }
.placeholder-content .md { padding: 0 .5em; }
"""

# Runs once per page (Gradio's ``js``). Event delegation, so it also works for messages rendered
# later, in an iframe and in the <gradio-app> web component. Gradio's sanitiser keeps href="#id"
# and <button>, so the markup carries no script of its own.
CHAT_JS = """
() => {
  if (window.__episodeAssistantClicks) return;
  window.__episodeAssistantClicks = true;
  const showSource = (link) => {
    const id = decodeURIComponent((link.getAttribute("href") || "").slice(1));
    const root = link.getRootNode();
    const target = (root.getElementById ? root.getElementById(id) : null) || document.getElementById(id);
    if (!target) return false;
    const panel = target.closest("details");
    if (panel) panel.open = true;
    target.scrollIntoView({ block: "start", behavior: "smooth" });
    target.classList.add("ea-flash");
    setTimeout(() => target.classList.remove("ea-flash"), 1600);
    return true;
  };
  const ask = (button) => {
    const app = button.closest("gradio-app") || button.closest(".gradio-container") || document;
    const box = app.querySelector("textarea[data-testid='textbox']");
    const send = app.querySelector("button.submit-button");
    if (!box || !send) return;
    const setValue = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value").set;
    setValue.call(box, button.textContent.trim());
    box.dispatchEvent(new Event("input", { bubbles: true }));
    setTimeout(() => send.click(), 0);
  };
  document.addEventListener("click", (event) => {
    const el = event.target instanceof Element ? event.target : null;
    const link = el && el.closest("a.ea-ref");
    if (link && showSource(link)) { event.preventDefault(); event.stopPropagation(); return; }
    const suggestion = el && el.closest("button.ea-suggest");
    if (suggestion) { event.preventDefault(); event.stopPropagation(); ask(suggestion); }
  }, true);
}
"""


def episode_choices(service: AnswerService) -> list[tuple[str, str]]:
    try:
        metas = service.store.episodes()
    except Exception:  # the chat still loads; questions will report the store problem
        log.exception("cannot list episodes")
        metas = []
    return [("All episodes", ALL_EPISODES)] + [(m.get("title") or m["episode_id"], m["episode_id"]) for m in metas]


def answer_styles(settings) -> list[tuple[str, str]]:
    """The answerers in user words (``auto`` is resolved, see ``default_style``)."""
    model = "local model" if not getattr(settings, "llm_base_url", None) else (settings.llm_model or "language model")
    return [("Quick — the episode's own words", "extractive"), (f"Written answer — {model}", "llm")]


def default_style(settings, default_answerer: str) -> str:
    if default_answerer != "auto":
        return default_answerer
    return auto_choice(settings)


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


def replies(service: AnswerService, query: Query):
    """The chat reply as it develops: progress first (before any work, so it shows at once), then
    the checked sentences streamed so far, then the final answer with its sources."""
    yield render.progress_html("searching")
    streamed = ""
    try:
        for event in service.stream(query):
            kind = event.get("type")
            if kind == "status" and not streamed:
                yield render.progress_html(event.get("stage", "searching"))
            elif kind == "token":
                streamed += event["text"]
                yield render.pending_html(streamed)
            elif kind == "answer":  # the checked answer replaces the streamed text: markers were renumbered
                yield render.answer_html(event["answer"])
    except QuestionError as e:
        yield render.notice_html(str(e), "error")
    except Busy as e:
        yield render.notice_html(str(e), "busy")
    except Exception as e:
        log.exception("chat answer failed")
        yield render.notice_html(f"Sorry, answering failed ({type(e).__name__}). Please try again.", "error")


def build_chat(service: AnswerService, default_answerer: str = "auto") -> gr.Blocks:
    settings = getattr(service.assistant, "settings", None)
    examples = ExampleQuestions(service.store)

    def respond(message: str, history: list[dict], episode: str, sections: list[str], answerer: str):
        yield from replies(service, Query(message, history_turns(history), episode, answerer, sections))

    def answer(
        question: str,
        history: list[dict] | None = None,
        episode: str | None = None,
        answerer: str | None = None,
        sections: list[str] | None = None,
    ) -> dict:
        # the same request model as POST /api/ask: what gets 422 there is refused here too
        fields = {"question": question, "history": history or [], "episode": episode or None}
        fields.update(answerer=answerer or None, sections=sections or None)
        try:
            query = AskRequest.model_validate(fields).to_query()
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise gr.Error(f"invalid request: {where}: {err['msg']}") from None
        try:
            return service.ask(query).to_dict()
        except (QuestionError, Busy) as e:
            raise gr.Error(str(e)) from None

    with gr.Blocks(title=TITLE, analytics_enabled=False, fill_height=True) as demo:
        episode = gr.Dropdown(episode_choices(service), value=ALL_EPISODES, label="Episode", render=False)
        sections = gr.CheckboxGroup(
            FILTER_SECTIONS, value=[], label="Search only in (none ticked = everything)", render=False
        )
        answerer = gr.Radio(
            answer_styles(settings),
            value=default_style(settings, default_answerer),
            label="Answer style",
            render=False,
        )
        chatbot = gr.Chatbot(
            label="Conversation",
            show_label=False,
            placeholder=INTRO,
            latex_delimiters=[],
            sanitize_html=True,
            feedback_options=None,
            buttons=["copy"],
            layout="panel",
            scale=1,
        )
        gr.ChatInterface(
            respond,
            chatbot=chatbot,
            textbox=gr.Textbox(placeholder="Ask a question about the episodes…", submit_btn=True, render=False),
            additional_inputs=[episode, sections, answerer],
            additional_inputs_accordion=gr.Accordion("Options", open=False, render=False),
            examples=[[q] for q in examples.current()],
            api_name="ask",
            api_description="Chat: streams the reply as HTML (progress, answer, then a Sources panel).",
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

        # episodes ingested while the server runs show up (and give examples) on the next page load
        def refresh():
            return gr.Dropdown(choices=episode_choices(service)), gr.Chatbot(
                examples=[{"text": q} for q in examples.current()]
            )

        demo.load(refresh, None, [episode, chatbot], api_visibility="private", show_progress="hidden")
    return demo
