"""Answers -> the HTML of one chat message, and chat messages -> plain text again.

Every piece of episode text goes through ``html.escape``: the chat renders HTML, and episode files
are input we do not control. Each message is one HTML block with no blank lines, so the markdown
renderer passes it through as written instead of re-interpreting the (escaped) text.

    >>> from assistant.answer import Answer, Citation
    >>> c = Citation(marker=1, id="e/quotes/3", episode_id="e", section="quotes", index=3,
    ...              text="<img src=x onerror=alert(1)>", line_start=10, line_end=12)
    >>> html = answer_html(Answer("q", "q", "“<b>hi</b>” [1]", False, [c]))
    >>> "<img" in html, "&lt;img src=x onerror=alert(1)&gt;" in html
    (False, True)
    >>> plain_text(html)
    '“<b>hi</b>” [1]'
"""

from __future__ import annotations

import re
from html import escape, unescape
from pathlib import PurePath

from assistant.answer import Answer, Citation

_MARKER = re.compile(r"\[(\d+)\]")
_BODY = re.compile(r'<div class="ea-(?:answer|notice)\b[^>]*>(.*?)</div>', re.S)
_ICON = re.compile(r'<span class="ea-icon">.*?</span>\s*', re.S)
_TAG = re.compile(r"<[^>]+>")


def _text(s: str) -> str:
    """Escaped text; newlines become <br> so the message stays one HTML block."""
    return "<br>".join(escape(line) for line in s.splitlines()) if s else ""


def _markers(escaped: str) -> str:
    return _MARKER.sub(r'<sup class="ea-ref">[\1]</sup>', escaped)


def pending_html(text: str) -> str:
    """What is shown while tokens stream in (replaced by the final answer)."""
    return f'<div class="ea-answer ea-pending">{_text(text) or "…"}</div>'


def notice_html(message: str, kind: str = "refused") -> str:
    """A visibly different reply: "not covered" refusals, errors, a busy server."""
    icon = {"refused": "⚠", "error": "✖", "busy": "⏳"}.get(kind, "ℹ")
    icon_html = f'<span class="ea-icon">{icon}</span>'
    return f'<div class="ea-notice ea-{escape(kind)}" role="note">{icon_html} {_text(message)}</div>'


def source_html(c: Citation) -> str:
    where = f"{PurePath(c.file).name if c.file else c.episode_id}, lines {c.line_start}–{c.line_end}"
    meta = [f"<code>{escape(c.id)}</code>", escape(where)]
    if c.transcript_position is not None:
        meta.append(f"transcript char {int(c.transcript_position):,}")
    if c.relevance_score is not None:
        meta.append(f"relevance {c.relevance_score:g}")
    if c.topic:
        meta.append(f"topic: {escape(c.topic)}")
    label = f"{escape(c.name)}: " if c.name else ""
    return (
        f'<li class="ea-source"><span class="ea-marker">[{c.marker}]</span> '
        f'<span class="ea-quote">{label}{_text(c.text)}</span>'
        f'<div class="ea-meta">{" · ".join(meta)}</div></li>'
    )


def sources_html(citations: list[Citation]) -> str:
    if not citations:
        return ""
    items = "".join(source_html(c) for c in citations)
    return (
        f'<details class="ea-sources"><summary>Sources ({len(citations)})</summary>'
        f'<ul class="ea-source-list">{items}</ul></details>'
    )


def answer_html(answer: Answer) -> str:
    if answer.refused:
        return notice_html(answer.answer, "refused")
    notes = "".join(f'<div class="ea-note">{_text(n)}</div>' for n in answer.notes)
    body = _markers(_text(answer.answer))
    return f'<div class="ea-answer">{body}</div>{notes}{sources_html(answer.citations)}'


def plain_text(message: str) -> str:
    """A chat message as the text a follow-up question refers to: no sources panel, no tags."""
    body = _BODY.search(message)
    text = _ICON.sub("", body.group(1) if body else message).replace("<br>", "\n")
    return unescape(_TAG.sub("", text)).strip()
