"""Answers -> the HTML of one chat message, and chat messages -> plain text again.

Every piece of episode text goes through ``html.escape`` before any tag is added: the chat renders
HTML, and episode files are input we do not control. Markdown in episode text (summary sections are
markdown) is rendered by a few fixed rules on the escaped text, so no ``**`` or ``###`` shows raw and
no markup from the file gets through. Each message is one HTML block with no newlines, so Gradio's
markdown renderer passes it through as written instead of re-interpreting the (escaped) text.

Gradio's sanitiser keeps ``id``, ``class``, ``title``, ``href="#…"``, ``<details>`` and
``<button>`` (it drops ``data-*``, ``aria-*`` and event attributes): a marker ``[n]`` is a link to
``#<message id>-n``, the source with that id; ``CHAT_JS`` in ``ui/chat.py`` opens the sources
panel and scrolls to it, and sends a suggested question when its button is clicked.

    >>> from assistant.answer import Answer, Citation
    >>> c = Citation(marker=1, id="e/quotes/3", episode_id="e", section="quotes", index=3,
    ...              text="<img src=x onerror=alert(1)>", line_start=10, line_end=12)
    >>> html = answer_html(Answer("q", "q", "“<b>hi</b>” [1]", False, [c]), message_id="m1")
    >>> "<img" in html, "&lt;img src=x onerror=alert(1)&gt;" in html, 'href="#m1-1"' in html
    (False, True, True)
    >>> plain_text(html)
    '“<b>hi</b>” [1]'
    >>> markdown_html("### Key *Insights*\\n* **RL:** <b>x</b>")  # doctest: +NORMALIZE_WHITESPACE
    '<strong class="ea-h">Key <em>Insights</em></strong><br><span class="ea-li">•
     <strong>RL:</strong> &lt;b&gt;x&lt;/b&gt;</span>'
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from html import escape, unescape
from pathlib import PurePath

from assistant.answer import Answer, Citation
from assistant.text import shown_name, whole_words
from vectorstore.chunks import SECTION_BY_NAME

_MARKER = re.compile(r"\[(\d+)\]")
_BODY = re.compile(r'<div class="ea-(?:answer|notice)\b[^>]*>(.*?)</div>', re.S)
_ICON = re.compile(r'<span class="ea-icon">.*?</span>\s*', re.S)
_TAG = re.compile(r"<[^>]+>")

# markdown, applied to already-escaped text (so the groups never hold markup of their own)
_HEADING = re.compile(r"#{1,6}\s+(.*)")
_BULLET = re.compile(r"[*+-]\s+(.*)")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_CODE = re.compile(r"`([^`]+)`")

PROGRESS = {
    "searching": "Searching the episode…",
    "writing": "Writing the answer…",
}


def new_message_id() -> str:
    """A prefix for the element ids of one message: each answer's source 1 needs its own id."""
    return "ea" + secrets.token_hex(4)


def _text(s: str) -> str:
    """Escaped text; newlines become <br> so the message stays one HTML block."""
    return "<br>".join(escape(line) for line in s.splitlines()) if s else ""


def _inline(line: str) -> str:
    """One line of markdown -> HTML: escaped first, then bold, italics and code spans."""
    html = _CODE.sub(r"<code>\1</code>", escape(line, quote=False))
    html = _STRONG.sub(r"<strong>\2</strong>", html)
    html = _EM.sub(r"<em>\2</em>", html)
    return html.replace("**", "").replace("__", "")  # an unpaired marker is noise, not content


def markdown_html(text: str, skip_heading: str | None = None) -> str:
    """Markdown (headings, bullets, bold, italics, code) as safe HTML, lines joined by ``<br>``.

    ``skip_heading`` drops a first heading that only repeats what the source header already says."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if m := _HEADING.fullmatch(line):
            heading = m.group(1).strip().strip("#").strip()
            if not out and skip_heading and heading.lower() == skip_heading.strip().lower():
                continue
            out.append(f'<strong class="ea-h">{_inline(heading)}</strong>')
        elif m := _BULLET.fullmatch(line):
            out.append(f'<span class="ea-li">• {_inline(m.group(1))}</span>')
        else:
            out.append(_inline(line))
    return "<br>".join(out)


def progress_html(stage: str) -> str:
    """The reply while nothing final is written yet: "Searching the episode…", "Writing the answer…"."""
    label = PROGRESS.get(stage, PROGRESS["searching"])
    return f'<div class="ea-progress" role="status"><span class="ea-spinner"></span> {escape(label)}</div>'


def _answer_text(text: str) -> str:
    """Answer text: escaped, an LLM's **bold** rendered, lines joined by ``<br>``."""
    return "<br>".join(_inline(line) for line in text.splitlines())


def pending_html(text: str) -> str:
    """Checked sentences streamed so far (replaced by the final answer, which adds the sources)."""
    body = _markers(_answer_text(text), "", {})
    return f'<div class="ea-answer ea-pending">{body}</div>{progress_html("writing")}'


def notice_html(message: str, kind: str = "refused") -> str:
    """A visibly different reply: "not covered" refusals, errors, a busy server."""
    icon = {"refused": "⚠", "error": "✖", "busy": "⏳"}.get(kind, "ℹ")
    icon_html = f'<span class="ea-icon">{icon}</span>'
    return f'<div class="ea-notice ea-{escape(kind)}" role="note">{icon_html} {_text(message)}</div>'


def suggestions_html(questions: Iterable[str]) -> str:
    """Questions the episodes do answer, as buttons; ``CHAT_JS`` sends the one clicked."""
    buttons = "".join(f'<button type="button" class="ea-suggest">{escape(q)}</button>' for q in questions if q.strip())
    if not buttons:
        return ""
    return f'<div class="ea-suggestions"><span class="ea-suggest-label">Try one of these:</span>{buttons}</div>'


def kind_label(c: Citation) -> str:
    section = SECTION_BY_NAME.get(c.section)
    kind = c.kind or (section.kind if section else c.section)
    return kind[:1].upper() + kind[1:]


def location_label(c: Citation) -> str:
    """'quote 17 · lines 728–736' (from the chain, or derived for answers made elsewhere)."""
    if c.location:
        return c.location
    section = SECTION_BY_NAME.get(c.section)
    if section:
        return section.location(c.index, c.line_start, c.line_end)
    return f"lines {c.line_start}–{c.line_end}"


def _source_body(c: Citation) -> str:
    if c.section == "quotes":
        return f'<blockquote class="ea-quote">“{_text(c.text.strip())}”</blockquote>'
    if c.section in ("summary", "insights"):
        return f'<div class="ea-quote ea-md">{markdown_html(c.text, skip_heading=c.topic)}</div>'
    if c.section == "companies" and c.transcript_position is not None:  # a window cut at any character
        return f'<div class="ea-quote">{_text(whole_words(c.text, c.name, c.transcript_position))}</div>'
    return f'<div class="ea-quote">{_text(c.text)}</div>'


def source_html(c: Citation, message_id: str = "") -> str:
    head = [f'<span class="ea-marker">[{c.marker}]</span>', f'<span class="ea-kind">{escape(kind_label(c))}</span>']
    name = shown_name(c.name)
    if name:
        head.append(f'<span class="ea-name">{escape(name)}</span>')
    if c.topic:  # a quote's topic, an entity's category, a summary section's heading
        head.append(f'<span class="ea-topic">{escape(c.topic)}</span>')
    where = [escape(location_label(c))]
    if c.transcript_position is not None:
        where.append(f"at transcript char {int(c.transcript_position):,}")
    title = f'<span class="ea-episode">{escape(c.title)}</span> · ' if c.title else ""
    ids = [f"<code>{escape(c.id)}</code>"]
    if c.file:
        ids.append(escape(PurePath(c.file).name))
    if c.relevance_score is not None:
        ids.append(f"relevance {c.relevance_score:g}")
    if c.alternates:
        n = len(c.alternates)
        ids.append(f"{n} near-identical item{'s' if n > 1 else ''} merged")
    anchor = f' id="{escape(message_id)}-{c.marker}"' if message_id else ""
    return (
        f'<li class="ea-source"{anchor}>'
        f'<div class="ea-source-head">{" · ".join(head)}</div>'
        f"{_source_body(c)}"
        f'<div class="ea-where">{title}{" · ".join(where)}</div>'
        f'<div class="ea-meta">{" · ".join(ids)}</div></li>'
    )


def sources_html(citations: list[Citation], message_id: str = "") -> str:
    if not citations:
        return ""
    items = "".join(source_html(c, message_id) for c in citations)
    anchor = f' id="{escape(message_id)}-sources"' if message_id else ""
    return (
        f'<details class="ea-sources"{anchor}><summary>Sources ({len(citations)})</summary>'
        f'<ol class="ea-source-list">{items}</ol></details>'
    )


def _markers(escaped: str, message_id: str, by_marker: dict[int, Citation]) -> str:
    """``[n]`` -> a link to source n of this message (a plain superscript when n is not a source)."""

    def link(m: re.Match) -> str:
        c = by_marker.get(int(m.group(1)))
        if c is None or not message_id:
            return f'<sup class="ea-ref">{m.group(0)}</sup>'
        hint = escape(f"Source {c.marker}: {kind_label(c)}, {location_label(c)}")
        return f'<a class="ea-ref" href="#{escape(message_id)}-{c.marker}" title="{hint}">{m.group(0)}</a>'

    return _MARKER.sub(link, escaped)


def answer_html(answer: Answer, message_id: str | None = None) -> str:
    message_id = message_id or new_message_id()
    if answer.refused:
        notice = notice_html(answer.answer, "refused")
        return notice + suggestions_html(answer.suggestions) + sources_html(answer.citations, message_id)
    notes = "".join(f'<div class="ea-note">{_text(n)}</div>' for n in answer.notes)
    by_marker = {c.marker: c for c in answer.citations}
    body = _markers(_answer_text(answer.answer), message_id, by_marker)
    return f'<div class="ea-answer">{body}</div>{notes}{sources_html(answer.citations, message_id)}'


def plain_text(message: str) -> str:
    """A chat message as the text a follow-up question refers to: no sources panel, no tags."""
    body = _BODY.search(message)
    text = _ICON.sub("", body.group(1) if body else message).replace("<br>", "\n")
    return unescape(_TAG.sub("", text)).strip()
