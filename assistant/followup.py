"""Follow-up questions -> standalone questions, by a deterministic rule over the previous turns.

A question is a follow-up when there is history and it leans on it: it has no content word of its
own ("by when?", "why?"), opens with a connective ("and", "so", "what about", "by when", "ok but",
"any examples?"...), or is short and refers back with a pronoun ("it", "that", "them", "then"...).
"They" is not such a pronoun here: in "What do they predict about agents?" it means the guests, and
the question stands on its own.
"Which one", "the former", "the latter" point back too: "which one gets more compute today?" after "how
is RL different from pretraining" was searched alone and answered with unrelated compute quotes.
A question about the whole episode ("who's on the show?", "key takeaways?": ``assistant.overview``)
stands on its own too, unless it opens with a connective or points back ("and the main points?").

The rewrite keeps every word of the follow-up and adds the *earlier question* -- the last user
question that was not itself a follow-up -- as what "that", "it", "them" refer to: "by when do they
expect that for coding agents?" is searched with "What has changed in the past year with RL and
language models?" beside it, never with the earlier *answer* (an answer-based rewrite retrieves the
earlier answer's sources again and repeats it). Only a follow-up with no word of its own ("by
when?", "how so?") also borrows the earlier answer's first content words: it asks about what that
answer said. Measured on the tune follow-ups (nDCG@10, hybrid): the rule before 0.510; "them" as a
back-reference 0.573 ("which companies use them?" 0.24 -> 1.0); the earlier question's content
words instead of the whole question 0.570 (not kept); the earlier answer's words for word-less
follow-ups 0.605 (kept).

    >>> history = [{"user": "What do they predict about software engineering agents?", "assistant": "..."}]
    >>> rewrite("by when?", history)
    'by when? (about: What do they predict about software engineering agents?)'
    >>> rewrite("What is RLHF?", history)
    'What is RLHF?'
    >>> rewrite("which companies use them?", [{"user": "Which company helps with visas?", "assistant": "..."}])
    'which companies use them? (about: Which company helps with visas?)'

A follow-up that only names something else ("and trenton?", "what about OpenAI?") after a question
that named one thing of the episode ("what does sholto do?") is that question asked of the new name
("what does trenton do?", ``asked_of``): appended, "trenton" stood beside "sholto" and the answer was
the summary's paragraph naming both. No tune follow-up has this form (nDCG@10 0.691 unchanged); the
test half, scored once afterwards, has one ("what about sonnet?" after a question about Opus: 0.853 ->
0.906), and its follow-ups went from 0.598 to 0.603.

An LLM answerer may replace this with a model-written rewrite (``assistant.answerers.llm``), which
must keep the same words (``keeps_own_words``).

The rewrite is a ``Standalone``: a string that also remembers the follow-up as typed, and the retriever
searches both and fuses them, the typed one at ``followup_weight`` (0.5) of the hybrid weights. The
remaining gap was retrieval, not the rewrite: in "is that what deepseek does too? (about: Do models
learn anything from getting a problem wrong?)" the earlier question's words outnumber the follow-up's
and the DeepSeek quote ranked 21st. Tune follow-ups, nDCG@10 / RR@10 (hybrid; 12 questions):

=============================================================  =============
standalone question alone (before)                             0.605 / 0.757
+ the typed follow-up, hybrid, at 0.5 of the weights (kept)    0.691 / 0.842
  the same at 0.25 / 0.4 / 0.6 / 0.75 / 1.0                    0.654 / 0.690 / 0.662 / 0.639 / 0.659
  only its dense search at 0.5; only its BM25 at 0.25 / 0.5    0.668; 0.635 / 0.630
+ the earlier answer as a third query (0.25)                   0.666
+ the earlier question as its own query (0.25 / 0.5)           0.573 / 0.537
the follow-up's own words repeated in the query (x2 .. x4)     0.601 .. 0.634
"<earlier question> <follow-up>" as one natural question       0.586
fused with RRF k 5 / 20 / 60 instead of 10                     0.665 / 0.670 / 0.599
=============================================================  =============

The typed words cost the extractive answers one answer point of 27 on these follow-ups (13 -> 12):
the answerer, not the ranking, decides which of the sources it quotes. The ``test`` half's follow-ups,
scored once after the choice: nDCG@10 0.558 -> 0.598, RR@10 0.581 -> 0.654.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping

from . import overview
from .text import STOP_WORDS, among_names, tokenize

_CONNECTIVE = re.compile(
    r"^\s*((ok|okay|hm+|right|wait)\b\W*)?(and|but|so|also|then|what about|how about|why( is that| so)?\??$|"
    r"by when|when|how come|what else|anything else|who else|how so|really|like what|for example|"
    r"(any|some|an|got any|give me( an| some)?) ?(concrete |good |real |specific )?examples?)\b",
    re.I,
)
_BACK_REFERENCE = re.compile(
    r"\b(it|its|that|this|those|these|them|he|she|him|his|her|there|then|"
    r"the same|such|each of them|which one(?! of the\b)|either one|the other one|the former|the latter|"
    r"which of the two)\b",
    re.I,
)
# phrases that look like back-references but are not: "this episode", existential "is there"
_SELF_CONTAINED = re.compile(
    r"\b(this|that) (episode|podcast|show|conversation|interview)\b|\b(is|are|was|were) there\b|"
    r"\b(will|would|could|might|should|can|do|does|did) there\b|\bthere (will|would|could|might)? ?be\b",
    re.I,
)
# more content words than this: the question carries its own subject. 3, not 2: "could an AI actually
# win it?" leans on the auditing game asked about before (tune follow-ups unchanged at 0.691; a blind
# set of 20 follow-ups written from the episode file: evidence cited 10 -> 11)
MAX_BACK_REFERENCE_WORDS = 3
MAX_TOPIC_WORDS = 8  # words borrowed from an earlier answer: more would drown the follow-up's own words
# surface words: letters/digits, keeping inner hyphens, dots and apostrophes ("generator-verifier", "4.5")
_SURFACE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9'’.-]*[A-Za-z0-9])?")
_QUESTION_WORDS = {"what's", "whats", "how's", "who's", "where's", "when's", "why's"}
# Words that ask for more of what was said without naming it: "can you give an example?", "could you
# elaborate?", "any more details?", "in what way?" lean on the earlier turn as surely as "why?" does.
_ASKS_FOR_MORE = frozenset(
    tokenize("example examples elaborate detail details explain expand clarify further specifics instance way tell")
)


def own_words(question: str) -> list[str]:
    """The question's content words (stemmed) that name something, not those asking for more of it.

    >>> own_words("can you give an example?"), own_words("an example of RL?")
    ([], ['rl'])
    """
    return [w for w in tokenize(question) if w not in _ASKS_FOR_MORE]


def _turns(history: Iterable[Mapping] | None) -> list[dict]:
    return [dict(t) for t in (history or []) if isinstance(t, Mapping) and t.get("user")]


def is_followup(question: str, history: Iterable[Mapping] | None) -> bool:
    turns = _turns(history)
    if not turns:
        return False
    if _CONNECTIVE.match(question):
        # "and the main points?" after "what is this episode about?" still asks about the whole episode
        return not (overview.intent(question) and overview.intent(str(turns[-1]["user"])))
    back = points_back(question)
    if overview.intent(question) and not back:
        return False  # "who's on the show?", "key takeaways?": the whole episode, whatever came before
    content = own_words(question)
    return not content or (len(content) <= MAX_BACK_REFERENCE_WORDS and back)


def points_back(question: str) -> bool:
    """Does the question hold a word that refers to something said before ("it", "that", "which one")?"""
    return bool(_BACK_REFERENCE.search(_SELF_CONTAINED.sub(" ", question)))


def subject_of(history: Iterable[Mapping]) -> str | None:
    """The last user question that carries its own subject (a follow-up borrows one)."""
    turns = _turns(history)
    for i in range(len(turns) - 1, -1, -1):
        q = str(turns[i]["user"]).strip()
        if not is_followup(q, turns[:i]):
            return q
    return str(turns[-1]["user"]).strip() if turns else None


def content_words(text: str) -> list[str]:
    """``text``'s words that carry meaning, as written (stop words and question openers dropped).

    >>> content_words("What's the generator-verifier gap?")
    ['generator-verifier', 'gap']
    """
    out = []
    for w in _SURFACE.findall(text):
        low = w.lower().replace("’", "'")
        if low in _QUESTION_WORDS or low.split("'")[0] in STOP_WORDS or len(low) < 2:
            continue
        out.append(w)
    return out


def topic_of(history: Iterable[Mapping], question: str = "") -> str | None:
    """What the follow-up refers to: the earlier question that carries a subject. When the follow-up
    has no word of its own ("by when?", "how so?"), it asks about what the earlier answer said, so
    that answer's first words join in (up to MAX_TOPIC_WORDS)."""
    turns = _turns(history)
    subject = subject_of(turns)
    has_subject = bool(subject and tokenize(subject))
    if has_subject and own_words(question):
        return subject
    answer = re.sub(r"\[\d+\]", " ", str(turns[-1].get("assistant") or "")) if turns else ""  # no [n] markers
    words = " ".join(content_words(answer)[:MAX_TOPIC_WORDS])
    parts = [p for p in (subject if has_subject else None, words) if p]
    return " ".join(parts) or subject


def keeps_own_words(rewritten: str, question: str) -> bool:
    """Does ``rewritten`` keep every content word of ``question`` (stemmed, in any order)?

    >>> keeps_own_words("By when do they expect RL to work for coding agents?", "by when for coding agents?")
    True
    >>> keeps_own_words("When will agents do expert-level work?", "by when for coding agents?")
    False
    """
    return set(tokenize(question)) <= set(tokenize(rewritten))


class Standalone(str):
    """A follow-up's standalone question that remembers the follow-up as typed (``typed``): the
    retriever searches both and fuses them (``HybridRetriever.search``), so the follow-up's own words
    count as much as its borrowed subject. Anything else sees a plain string.

    It also carries the answer the user was just shown when the follow-up asks for nothing of its own
    (``earlier``, see ``shown_before``): an answer to "why?" that repeats it tells the user nothing new
    (``ExtractiveAnswerer`` leaves its sentences out when there is anything else to say).

    >>> s = Standalone("is that what deepseek does too? (about: Do models learn from failure?)", "is that what ...")
    >>> s.typed, s.endswith("?)")
    ('is that what ...', True)
    """

    typed: str
    earlier: str
    subject: str  # the earlier question it leans on ("" when it asks that question of another name)

    def __new__(cls, text: str, typed: str, earlier: str = "", subject: str = "") -> Standalone:
        obj = super().__new__(cls, text)
        obj.typed = typed
        obj.earlier = earlier
        obj.subject = subject
        return obj

    def __reduce__(self):  # pickles (a process pool, a cache) keep what was typed
        return (Standalone, (str(self), self.typed, self.earlier, self.subject))

    @property
    def refers_back(self) -> bool:
        """Does the follow-up as typed point at the earlier subject ("is *it* dangerous?", "why?")
        rather than name a new one ("what about chain of thought?")?"""
        return bool(self.subject) and (not own_words(self.typed) or points_back(self.typed))

    @property
    def own_search(self) -> str | None:
        """The follow-up as typed, to search beside the standalone question; None when all its words
        only ask for more ("can you give an example?": searched as it stands, it finds every other
        example of the episode). "by when?" has no such words and is searched: it finds dates."""
        return self.typed if not tokenize(self.typed) or own_words(self.typed) else None


def shown_before(question: str, history: Iterable[Mapping] | None) -> str:
    """What the user was just shown (the last turn's answer) when the follow-up asks for nothing of its
    own ("why?", "why do they think so?", "how so?"): it wants more than that answer, not it again.
    A follow-up with words of its own ("how well does it work?") may be answered by the same sources,
    so there it is "". Read by eye on the chat: "why?" after "What has changed...with RL?" repeated
    its quote; now it gives the summary's reason (verifiable reward signals)."""
    turns = _turns(history)
    if not turns or own_words(question):
        return ""
    return str(turns[-1].get("assistant") or "")


# "and trenton?", "what about openai?": the earlier question, asked of another name
_OTHER_NAME = re.compile(r"^\s*(?:and|and what about|what about|how about)\s+(?P<name>[^?]+?)\s*\??\s*$", re.I)
MAX_NAME_WORDS = 3


def asked_of(question: str, subject: str | None, names: Container[str]) -> str | None:
    """When the follow-up only names something else ("and trenton?") and the earlier question names
    one thing (``names``: the episode's names, lower case), the earlier question asked of it: "what does
    sholto do?" -> "what does trenton do?". None otherwise: "what about scientific research?" asks a new
    angle of the earlier subject, not the same question of another.

    >>> asked_of("and trenton?", "what does sholto do?", {"sholto", "trenton"})
    'what does trenton do?'
    >>> asked_of("and sholto?", "whats trentons research area", {"sholto", "trenton"})
    'whats sholto research area'
    >>> asked_of("what about scientific research?", "what do they get good at?", {"sholto"}) is None
    True
    """
    m = _OTHER_NAME.match(question)
    if not m or not subject:
        return None
    name = m.group("name").strip()
    words = content_words(name)
    if not words or len(words) > MAX_NAME_WORDS or not all(among_names(w, names) for w in words):
        return None
    earlier = [w for w in content_words(subject) if among_names(w, names)]
    if len(earlier) != 1:
        return None  # none, or several: which one the new name stands in for is a guess
    return re.sub(rf"(?<![\w-]){re.escape(earlier[0])}(?![\w-])", name, subject, count=1)


ABOUT = " (about: "  # what a rewritten follow-up leans on


def leans_on_earlier(standalone: str) -> bool:
    """Is ``standalone`` a follow-up with the earlier question appended ("by when? (about: ...)"),
    rather than a question of its own ("what does trenton do?" for "and trenton?")?"""
    return ABOUT in str(standalone)


def rewrite(question: str, history: Iterable[Mapping] | None = None, names: Container[str] = ()) -> str:
    """The question to search and answer: unchanged unless it is a follow-up, which becomes a
    ``Standalone``: the earlier question asked of another name (``asked_of``, given the episode's
    ``names``), or the follow-up with what it refers to appended as "(about: ...)"."""
    question = question.strip()
    if not is_followup(question, history):
        return question
    other = asked_of(question, subject_of(history or []), names)
    if other:
        return Standalone(other, question, shown_before(question, history))
    topic = topic_of(history or [], question)
    if not topic:
        return question
    return Standalone(
        f"{question}{ABOUT}{topic})", question, shown_before(question, history), subject_of(history or []) or ""
    )
