"""Extractive answers, answer-first: the one passage of the sources that best answers the question,
then at most two speaker quotes that back it up, in about 80 words. No model writes anything.

Every passage is a run of whole sentences of its source, verbatim (markdown removed), so it is
supported by the source it cites by construction and never starts or ends mid-word. An entity's
transcript window (cut from the transcript at arbitrary characters) is trimmed to its whole
sentences, or at least whole words marked "…", and reads "Name: what the episode says".

    >>> from assistant.retriever import Hit
    >>> text = "RL from verifiable rewards has finally started to work. We had a lovely dinner at the hotel."
    >>> ExtractiveAnswerer().answer("Does RL work now?", [Hit("e/quotes/1", text, {"section": "quotes"})]).text
    '“RL from verifiable rewards has finally started to work.” [1]'

How a passage is chosen (weights tuned on the eval's tune half): its embedding similarity to the
question, the share of the question's words it contains, how high retrieval ranked its source, and
its length (a passage is one to three sentences; long ones cost, fragments of a few words are out).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..retriever import Hit
from ..text import ELLIPSIS, plain, split_sentences, tokenize
from .base import Answerer, Draft
from .guard import addresses_reader, support_matrix
from .vectors import Embed, unit
from .vectors import embed as default_embed

WORD_BUDGET = 80  # the whole answer; the lead alone may use most of it
MAX_SUPPORT = 2  # speaker quotes after the lead
MAX_SPAN_SENTENCES = 3
MAX_SPAN_WORDS = 50
MIN_SPAN_WORDS = 5
MAX_SOURCES = 8

# Scoring, tuned on the tune half of eval/questions.yaml (answer-point coverage at <= 80 words; grids
# over these weights in README "Answers"). A passage scores its cosine to the question, plus
W_LEXICAL = 0.2  # x the share of the question's content words it contains
W_RANK = 0.3  # x 1/(1 + rank of its source in retrieval)
LONG_WORDS = 30  # + W_WORDS x min(words, LONG_WORDS) / LONG_WORDS: up to here a longer passage says more;
W_WORDS = 0.3
W_LENGTH = 0.03  # - W_LENGTH per 10 words beyond LONG_WORDS
SECTION_BONUS = {"quotes": 0.02, "summary": 0.2, "overview": -0.05}  # the written summary is dense (+0.03)
W_ASKS = 0.2  # - for a passage ending in "?": it asks rather than answers (no coverage change; reads better)
# Supporting quotes: chosen one by one by score minus MMR x their similarity to what is shown already
# (a second quote saying the same adds no point), above SUPPORT_FLOOR (below it they drift off topic).
MMR = 0.6
SUPPORT_FLOOR = 0.6
REDUNDANT_COSINE = 0.85  # this close to a passage shown already: never
# Tried and left out: the file's own relevance rating of quotes (-0.03 coverage at any weight), a bonus
# for entity mentions on who/which questions, for agreement with the other sources (centrality), longer
# spans (up to 5 sentences / 65 words): no change; supports from summary/insights/entities: +0.04, but
# the speakers' own words are the proof the issue asks for.

_SENTENCE_END = re.compile(r"[.!?][\"”’')\]]*(?=\s|$)")


@dataclass
class Passage:
    """A run of whole sentences of one source, as the answer shows it."""

    source: int  # 0-based index into the sources
    text: str  # verbatim words of the source, markdown removed; "…" marks a cut of a transcript window
    section: str
    first: int  # sentence range within the source (for overlap between passages)
    last: int
    name: str | None = None  # entity mentions: whose
    window: bool = False  # an entity's transcript window (speech), not a description
    score: float = 0.0
    backed_by: list[int] = field(default_factory=list)  # speaker quotes (source indices) that say the same

    @property
    def mark(self) -> str:
        return "".join(f"[{n + 1}]" for n in [self.source, *self.backed_by])

    @property
    def words(self) -> int:
        return len(self.text.split())

    def render(self) -> str:
        """The passage with its ``[n]`` marker (n = source + 1)."""
        mark = self.mark
        if self.section == "quotes":
            return f"“{self.text}” {mark}"
        if self.section == "companies" and self.name:
            if self.window:  # the speakers' words around the name
                return f"{self.name}: “{self.text}” {mark}"
            return f"{self.name}: {_before_stop(self.text, mark)}"
        return _before_stop(self.text, mark)

    @property
    def embed_text(self) -> str:
        return f"{self.name}: {self.text}" if self.name else self.text


def _before_stop(text: str, mark: str) -> str:
    """``"It works." + [1]`` -> ``"It works [1]."``: the marker stays inside its sentence."""
    if text[-1:] in ".!?":
        return f"{text[:-1]} {mark}{text[-1]}"
    return f"{text} {mark}."


def trim_window(text: str) -> str:
    """A transcript window cut at arbitrary characters, trimmed to whole sentences where it has
    them, else to whole words with "…" where something was cut.

    >>> trim_window("ly what they want to do. I mean, O1 to O3, right? Like OpenAI put in a blog, there was a 10X co")
    '…I mean, O1 to O3, right? Like OpenAI put in a blog, there was a 10X…'
    """
    flat = " ".join(text.split())
    ends = [m.end() for m in _SENTENCE_END.finditer(flat)]
    head = next((e for e in ends if e <= 0.4 * len(flat)), None)
    if head is not None:
        body, cut_head = flat[head:].lstrip(), True
    else:
        body, cut_head = flat.split(" ", 1)[-1], True  # the first word may be a cut one
    tail = [m.end() for m in _SENTENCE_END.finditer(body) if m.end() >= 0.6 * len(body)]
    if tail:
        body, cut_tail = body[: tail[-1]], False
    else:
        body, cut_tail = body.rsplit(" ", 1)[0], True
    body = body.strip(" ,;:-—")
    return f"{ELLIPSIS if cut_head else ''}{body}{ELLIPSIS if cut_tail else ''}"


def passages(sources: Sequence[Hit]) -> list[Passage]:
    """Every candidate passage of the sources."""
    out: list[Passage] = []
    for i, hit in enumerate(sources[:MAX_SOURCES]):
        md = hit.metadata
        section = md.get("section", "")
        if section == "companies":
            name = md.get("name")
            window = md.get("transcript_position") is not None
            text = trim_window(hit.text) if window else plain(hit.text)
            if len(text.strip(ELLIPSIS).split()) >= 3 and not addresses_reader(text):
                out.append(Passage(i, text, section, 0, 0, name=name, window=window))
            continue
        if section == "overview":
            for j, line in enumerate(hit.text.splitlines()):
                if line.strip() and not addresses_reader(line):
                    out.append(Passage(i, line.strip(), section, j, j))
            continue
        # an instruction to the reader inside a source is not something the episode states
        sentences = [plain(s) for s in split_sentences(plain_blocks(hit.text))]
        sentences = ["" if addresses_reader(s) else s for s in sentences]
        longest = MAX_SPAN_SENTENCES if section == "quotes" else 1
        for a in range(len(sentences)):
            for b in range(a, min(a + longest, len(sentences))):
                if not all(sentences[a : b + 1]):
                    break
                text = " ".join(sentences[a : b + 1])
                n = len(text.split())
                if n > MAX_SPAN_WORDS and b > a:
                    break
                if n >= MIN_SPAN_WORDS and len(tokenize(text)) >= 2:
                    out.append(Passage(i, text, section, a, b))
    return out


def plain_blocks(text: str) -> str:
    """Heading lines out (a heading is a title, not a statement); bullets and paragraphs stay
    apart for the sentence splitter."""
    return "\n".join("" if line.lstrip().startswith("#") else line for line in text.splitlines())


class ExtractiveAnswerer(Answerer):
    name = "extractive"

    def __init__(self, embed: Embed | None = None):
        self._embed = embed or default_embed

    def compose(self, question: str, sources: Sequence[Hit]) -> list[str]:
        """The answer's sentences, lead first, each with its ``[n]`` marker."""
        chosen = self.choose(question, sources)
        lead, quotes = (chosen[0], chosen[1:]) if chosen else (None, [])
        if lead is not None and lead.section != "quotes" and quotes:
            # written analysis leads; a speaker quote shown below that says the same is its proof too
            row = support_matrix([lead.embed_text], [q.text for q in quotes], self._embed)[0]
            lead.backed_by = [q.source for q, support in zip(quotes, row) if support.passes]
        return [p.render() for p in chosen]

    def choose(self, question: str, sources: Sequence[Hit]) -> list[Passage]:
        cands = passages(sources)
        if not cands:
            return []
        vecs = unit(np.asarray(self._embed([question] + [p.embed_text for p in cands]), dtype=float))
        q, pv = vecs[0], vecs[1:]
        qwords = set(tokenize(question))
        for p, v in zip(cands, pv):
            words = set(tokenize(p.embed_text))
            lexical = len(qwords & words) / len(qwords) if qwords else 0.0
            length = W_WORDS * min(p.words, LONG_WORDS) / LONG_WORDS - W_LENGTH * max(0, p.words - LONG_WORDS) / 10
            p.score = (
                float(v @ q)
                + W_LEXICAL * lexical
                + W_RANK / (1 + p.source)
                + length
                + SECTION_BONUS.get(p.section, 0.0)
            )
        order = sorted(range(len(cands)), key=lambda k: (-cands[k].score, cands[k].source, cands[k].first))
        lead = order[0]
        picked = [lead]
        used = cands[lead].words
        while len(picked) <= MAX_SUPPORT:
            best, best_value = None, None
            for k in order[1:]:
                p = cands[k]
                if p.section != "quotes" or p.score < SUPPORT_FLOOR:
                    continue
                if any(cands[j].source == p.source for j in picked) or used + p.words > WORD_BUDGET:
                    continue
                similar = max(float(pv[k] @ pv[j]) for j in picked)
                if similar >= REDUNDANT_COSINE:
                    continue
                value = p.score - MMR * similar
                if best_value is None or value > best_value:
                    best, best_value = k, value
            if best is None:
                break
            picked.append(best)
            used += cands[best].words
        return [cands[k] for k in picked]

    def answer(self, question: str, sources: Sequence[Hit]) -> Draft:
        return Draft(" ".join(self.compose(question, sources)))

    def stream(self, question: str, sources: Sequence[Hit]) -> Iterator[str | Draft]:
        """Each sentence as its own piece (the chain releases them one by one), then the Draft."""
        sentences = self.compose(question, sources)
        yield from sentences
        yield Draft(" ".join(sentences))
