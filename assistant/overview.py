"""Questions about the episode as a whole -- "what is this episode about?", "give me the gist",
"what are the key takeaways?", "who are the guests?" -- are answered from the episode's written
summary, in the summary's own order, not from a search.

Why: such a question has no subject to search for. Before this module, "What is this episode
about?", "Summarize the episode" and "Give me the gist" were all answered with the summary's
"Target Audience" paragraph (it shares the word "episode" with them), and "What are the key
takeaways?" was refused as off topic (its best cosine to any chunk is under the refusal threshold).
The summary opens with what a person asking this wants: who is on, for how long, on what (its first
paragraph), then the focus area, then sections of bullet points ("Key Technical Insights",
"Business/Investment Angle", ...).

Two kinds of overview question (``intent``):

- ``ABOUT``: what it is about, a summary, the gist, the guests, the length -> the summary's opening
  paragraph, then its first section (the focus), sentence by sentence while the words last.
- ``DATE``: when it came out -> the front matter's "Date:" line (the analysis's date of the episode).
- ``TAKEAWAYS``: the main points, key takeaways, insights, lessons -> the first sentence of each bullet
  of the summary section whose heading is closest to the question ("main technical takeaways" ->
  "Key Technical Insights"; "business takeaways" -> "Business/Investment Angle").

A question is an overview question only when it has an overview cue and *no other* content word
(after the words such questions are made of: "episode", "main", "technical", ...): "What does the
summary say about DeepSeek?" and "main points about interpretability?" have a subject and are
searched as usual; "Who is the host of the show?" has no cue and stays a "not stated" refusal.

    >>> intent("What is this episode about?"), intent("What are the main technical takeaways?")
    ('about', 'takeaways')
    >>> intent("Who is the host of the show?"), intent("What does the summary say about DeepSeek?")
    (None, None)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vectorstore.filters import SearchFilter

from .retriever import Hit
from .text import tokenize

ABOUT = "about"
TAKEAWAYS = "takeaways"
DATE = "date"  # "when did this come out?": the front matter's date
SECTION = "summary"
FRONT_MATTER = "overview"  # the chunk of title, date, duration, tags

_EPISODE = r"(?:episode|podcast|show|conversation|interview|discussion|talk|chat|recording)"
_ABOUT_CUE = re.compile(
    "|".join(
        [
            rf"\bwhat(?:'s|’s|s| is| was)?\s+(?:this|the)\s+{_EPISODE}\b(?:\s+\w+)?\s+about\b",
            rf"\bwhat\s+(?:do|does|did)\s+(?:they|the guests|the speakers|this {_EPISODE}|the {_EPISODE})\s+"
            r"(?:\w+\s+)?(?:talk|discuss|cover|go over)\w*(?:\s+about)?\W*$",
            r"\b(?:gist|summary|summari[sz]e|recap|overview|tl;?dr|synopsis|nutshell)\b",
            rf"\bwho\s+(?:are|were|is|was)\s+(?:the\s+)?(?:two\s+|three\s+)?"
            rf"(?:guests?|speakers?|people (?:talking|speaking)|on (?:this|the) {_EPISODE})\b",
            r"\bwho(?:'s|’s|s| is| was)\s+(?:on|in|speaking|talking)\b",
            # what the people on the episode do ("what do the two guests work on?"): the opening says
            r"\bwhat\s+(?:do|does|did)\s+(?:the\s+)?(?:two\s+|three\s+|both\s+)?(?:guests?|speakers?)\s+"
            r"(?:each\s+|both\s+)?(?:do|work on)\b",
            r"\bhow long\s+(?:is|was|does|did)\b",
        ]
    ),
    re.I,
)
_DATE_CUE = re.compile(
    r"\bwhen\b.*\b(?:recorded|released|published|aired|posted|out|made)\b|\b(?:release|publish|publication|air|recording)"
    r"\s+date\b|\bwhat date\b",
    re.I,
)
_TAKEAWAYS_CUE = re.compile(
    r"\btakeaways?\b|\b(?:main|key|big|biggest|major|important|top|central)\s+(?:\w+\s+)?"
    r"(?:points?|ideas?|themes?|topics?|insights?|lessons?|highlights?|arguments?|claims?|findings?|messages?)\b",
    re.I,
)
_WHO = re.compile(r"\W*(?:(?:hi|hello|hey)\W+)?who(?:'s|’s|s)?\b", re.I)
# The words overview questions are made of; anything else is a subject to search for.
OVERVIEW_WORDS = frozenset(
    tokenize(
        "episode podcast show conversation interview discussion talk chat recording about gist summary summarize "
        "summarise recap overview tldr tl dr synopsis nutshell takeaways points ideas themes topics insights lessons "
        "highlights arguments claims findings messages main key big biggest major important top central overall "
        "mainly mostly cover covered covers discuss discussed go give tell brief briefly quick short version sentence "
        "guests speakers people talking speaking long run runs last lasts length minutes technical business investing "
        "investment practical high level picture whole recorded released release published publication aired "
        "posted out came come made date hi hello hey please work works"
    )
) | {"what", "whos", "who"}  # "whats the biggest takeaway" typed without its apostrophe


def intent(question: str, opening: str = "") -> str | None:
    """``TAKEAWAYS``, ``ABOUT`` or None (not a question about the episode as a whole). With the summary's
    ``opening`` paragraph, "who is <someone it introduces>?" is an ``ABOUT`` question too: "who is
    sholto?" is answered by "This 144-minute episode features Sholto Douglas and Trenton Bricken (both
    now at Anthropic)..." (a search finds nothing else: the transcript spells him "Shulta").

    >>> intent("who is sholto?", "This episode features Sholto Douglas."), intent("who is sholto?")
    ('about', None)
    """
    subject = [w for w in tokenize(question) if w not in OVERVIEW_WORDS]
    if subject and opening and asks_who(question) and set(subject) <= set(tokenize(opening)):
        return ABOUT
    if subject:
        return None
    if _DATE_CUE.search(question):
        return DATE
    if _TAKEAWAYS_CUE.search(question):
        return TAKEAWAYS
    if _ABOUT_CUE.search(question):
        return ABOUT
    return None


def asks_who(question: str) -> bool:
    return bool(_WHO.match(question))


def opening(hits: Sequence[Hit]) -> str:
    """The summary's opening paragraph: the text of the first summary chunk among ``hits`` (who, how
    long, on what)."""
    summary = [h for h in hits if h.metadata.get("section") == SECTION]
    first = min(summary, key=lambda h: int(h.metadata.get("index", 0)), default=None)
    return first.text if first else ""


def sources(store, episode: str) -> list[Hit]:
    """An overview answer's own sources, in one read: the episode's summary chunks in the summary's
    order, then its front matter (title, date, duration); empty when it has no summary."""
    found = store.chunks(SearchFilter(episode=episode, sections=(SECTION, FRONT_MATTER)))
    summary = sorted((c for c in found if c.metadata["section"] == SECTION), key=lambda c: int(c.metadata["index"]))
    if not summary:
        return []
    front = [c for c in found if c.metadata["section"] == FRONT_MATTER]
    return [Hit(c.id, c.text, c.metadata) for c in [*summary, *front]]


def date_line(text: str) -> str | None:
    """The "Date: ..." line of an overview chunk."""
    return next((line.strip() for line in text.splitlines() if line.startswith("Date:")), None)


def heading(hit: Hit) -> str:
    """A summary chunk's heading without its markdown and number ("### 2. Key Technical Insights" ->
    "Key Technical Insights"); empty when it has none."""
    first = hit.text.lstrip().splitlines()[0] if hit.text.strip() else ""
    if not first.startswith("#"):
        return ""
    return re.sub(r"^#+\s*(?:\d{1,2}[.)]\s*)?", "", first).strip()


def bullets(text: str) -> list[str]:
    """The markdown bullet items of a summary section, each as one string (its lines joined)."""
    items: list[str] = []
    for line in text.splitlines():
        if re.match(r"^\s*[*-]\s+", line):
            items.append(line.strip())
        elif items and line.strip() and not line.lstrip().startswith("#"):
            items[-1] += " " + line.strip()
    return items
