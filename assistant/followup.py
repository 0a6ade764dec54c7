"""Follow-up questions -> standalone questions, by a deterministic rule over the previous turns.

A question is a follow-up when there is history and it leans on it: it has no content word of its
own ("by when?", "why?"), opens with a connective ("and", "so", "what about"...), or is short and
refers back with a pronoun ("it", "that", "then"...). "They" is not such a pronoun here: in
"What do they predict about agents?" it means the guests, and the question stands on its own.
Its rewrite keeps the follow-up's own words and adds the subject of the last user question that
was not itself a follow-up.

    >>> history = [{"user": "What do they predict about software engineering agents?", "assistant": "..."}]
    >>> rewrite("by when?", history)
    'by when? (about: What do they predict about software engineering agents?)'
    >>> rewrite("What is RLHF?", history)
    'What is RLHF?'

An LLM answerer may replace this with a model-written rewrite (``assistant.answerers.llm``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .text import tokenize

_CONNECTIVE = re.compile(
    r"^\s*(and|but|so|also|then|what about|how about|why( is that| so)?\??$|"
    r"by when|when|how come|what else|anything else|who else|how so|really)\b",
    re.I,
)
_BACK_REFERENCE = re.compile(
    r"\b(it|its|that|this|those|these|he|she|him|his|her|there|then|"
    r"the same|such|each of them)\b",
    re.I,
)
# phrases that look like back-references but are not: "this episode", existential "is there"
_SELF_CONTAINED = re.compile(
    r"\b(this|that) (episode|podcast|show|conversation|interview)\b|\b(is|are|was|were) there\b", re.I
)
MAX_BACK_REFERENCE_WORDS = 2  # more content words than this: the question carries its own subject


def _turns(history: Iterable[Mapping] | None) -> list[dict]:
    return [dict(t) for t in (history or []) if isinstance(t, Mapping) and t.get("user")]


def is_followup(question: str, history: Iterable[Mapping] | None) -> bool:
    if not _turns(history):
        return False
    content = tokenize(question)
    if not content:
        return True
    return bool(_CONNECTIVE.match(question)) or (
        len(content) <= MAX_BACK_REFERENCE_WORDS and bool(_BACK_REFERENCE.search(_SELF_CONTAINED.sub(" ", question)))
    )


def subject_of(history: Iterable[Mapping]) -> str | None:
    """The last user question that carries its own subject (a follow-up borrows one)."""
    turns = _turns(history)
    for i in range(len(turns) - 1, -1, -1):
        q = str(turns[i]["user"]).strip()
        if not is_followup(q, turns[:i]):
            return q
    return str(turns[-1]["user"]).strip() if turns else None


def rewrite(question: str, history: Iterable[Mapping] | None = None) -> str:
    question = question.strip()
    if not is_followup(question, history):
        return question
    subject = subject_of(history or [])
    return f"{question} (about: {subject})" if subject else question
