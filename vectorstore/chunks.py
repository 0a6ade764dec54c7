"""Episode -> chunks, each carrying its citation anchor.

A chunk's id *is* its citation id (``{episode_id}/{section}/{index}``); ``text`` is the verbatim
source text that a citation shows, ``embed_text`` what retrieval sees (the quote plus its topic
and impact reason, an entity's name and category plus its context, ...).

    >>> from vectorstore.episode import load_episode
    >>> chunks = episode_chunks(load_episode("data/episodes/000_e8dde77376fc3016.txt"))
    >>> chunks[16].id, chunks[16].metadata["relevance_score"]
    ('e8dde77376fc3016/quotes/16', 10.0)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from .episode import Entity, Episode

# A quote inherits an entity's transcript offset when they share at least this many characters:
# long enough that common phrases ("I think that the") don't match by chance.
MIN_ANCHOR_OVERLAP = 24
# Two quotes are near-duplicates when this share of the shorter one's word bigrams recurs in the other,
# or when half of them do and one unbroken stretch covers DUP_RUN of the shorter one (quotes/5 is
# quotes/16's first sentence plus "Okay, so I think": 0.75 of bigrams, 0.82 in one run; two quotes that
# merely share a sentence, quotes/31 and /84, reach 0.62 and 0.49).
DUP_CONTAINMENT = 0.8
DUP_PARTIAL = 0.5
DUP_RUN = 0.75
# Entity context windows are ~100-character cuts of the transcript around a name: two names said in
# one breath get windows shifted by a few words (companies/18 "Like OpenAI" and /19 "Openai": 0.96;
# /13 "Sam Rodriguez" and /14 "Future House": 0.74), so the bar is lower than for quotes.
DUP_WINDOW_CONTAINMENT = 0.6


@dataclass
class Chunk:
    id: str
    text: str
    embed_text: str
    metadata: dict = field(default_factory=dict)

    @property
    def section(self) -> str:
        return self.metadata["section"]


def citation_id(episode_id: str, section: str, index: int) -> str:
    return f"{episode_id}/{section}/{index}"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def bigrams(text: str) -> set[tuple[str, str]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return set(zip(words, words[1:])) or {(w, "") for w in words}


def near_duplicate(a: str, b: str, containment: float = DUP_CONTAINMENT, grams: tuple[set, set] | None = None) -> bool:
    """Do ``a`` and ``b`` say the same thing in (nearly) the same words?

    >>> near_duplicate("Okay, so I think the biggest change is that RL has finally worked",
    ...                "the biggest change is that RL has finally worked. We have proof.")
    True
    >>> near_duplicate("RL has finally worked.", "Pre-training gives a dense signal.")
    False
    """
    ga, gb = grams or (bigrams(a), bigrams(b))
    small = min(len(ga), len(gb))
    if not small:
        return False
    shared = len(ga & gb) / small
    if shared >= containment:
        return True
    if shared < DUP_PARTIAL:
        return False
    na, nb = _norm(a), _norm(b)
    run = SequenceMatcher(None, na, nb, autojunk=False).find_longest_match(0, len(na), 0, len(nb)).size
    return run >= DUP_RUN * min(len(na), len(nb))


def duplicate_groups(texts: list[str], containment: float = DUP_CONTAINMENT) -> dict[int, int]:
    """Position -> group id (the smallest position in its group), for texts with a near-duplicate
    (``texts[i]`` is item i of its list; an empty text never groups)."""
    grams = [bigrams(t) if t else set() for t in texts]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if near_duplicate(texts[i], texts[j], containment, (grams[i], grams[j])):
                a, b = root(i), root(j)
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(root(i), []).append(i)
    return {i: g for g, members in groups.items() if len(members) > 1 for i in members}


def transcript_offset(quote: str, entity: Entity) -> int | None:
    """Where ``quote`` starts in the transcript, when it overlaps ``entity``'s context window.

    The window's own transcript start is derived from the entity's position (the offset of its
    name) minus where the name sits in the window."""
    if entity.position is None or not entity.context:
        return None
    ctx, q = entity.context, quote
    name_at = ctx.find(entity.name)
    if name_at < 0:
        name_at = ctx.lower().find(entity.name.lower())
    if name_at < 0:
        return None
    m = SequenceMatcher(None, ctx.lower(), q.lower(), autojunk=False).find_longest_match(0, len(ctx), 0, len(q))
    # the shared stretch must reach beyond the entity's own name, or any quote naming it would match
    if m.size < max(MIN_ANCHOR_OVERLAP, len(entity.name) + 12):
        return None
    return max(0, entity.position - name_at + m.a - m.b)


def _quote_positions(episode: Episode) -> dict[int, int]:
    anchored = [e for e in episode.companies if e.position is not None and e.context]
    # Pre-filter with 16-character shingles: an overlap of >= MIN_ANCHOR_OVERLAP (24) characters
    # always contains a context shingle taken at a step of 4, so nothing that could match is skipped.
    shingles = [
        {_norm(e.context)[k : k + 16] for k in range(0, max(1, len(_norm(e.context)) - 15), 4)} for e in anchored
    ]
    out: dict[int, int] = {}
    for q in episode.quotes:
        qn = _norm(q.text)
        windows = {qn[k : k + 16] for k in range(max(1, len(qn) - 15))}
        for e, sh in zip(anchored, shingles):
            if windows.isdisjoint(sh):
                continue
            pos = transcript_offset(q.text, e)
            if pos is not None:
                out[q.index] = pos
                break
    return out


def _base(episode: Episode, section: str, index: int, start: int, end: int) -> dict:
    return {
        "episode_id": episode.id,
        "section": section,
        "index": index,
        "line_start": start,
        "line_end": end,
        "title": episode.title,
        "file": episode.file,
    }


def _add(
    chunks: list[Chunk], episode: Episode, section: str, index: int, text: str, md: dict, *enrichment: str | None
) -> None:
    """One chunk; ``enrichment`` (topic, impact reason, entity name) is searched, never cited."""
    extra = " ".join(x for x in enrichment if x)
    if extra:
        md["enrichment"] = extra
    chunks.append(Chunk(citation_id(episode.id, section, index), text, f"{text}\n{extra}".strip(), md))


def _quote_chunks(episode: Episode) -> list[Chunk]:
    chunks: list[Chunk] = []
    dups = duplicate_groups([q.text for q in episode.quotes])
    positions = _quote_positions(episode)
    for q in episode.quotes:
        md = _base(episode, "quotes", q.index, q.line_start, q.line_end)
        if q.relevance_score is not None:
            md["relevance_score"] = float(q.relevance_score)
        if q.topic_label:
            md["topic"] = q.topic_label
        if q.index in positions:
            md["transcript_position"] = positions[q.index]
        if q.index in dups:
            md["dup_group"] = dups[q.index]
        _add(chunks, episode, "quotes", q.index, q.text, md, q.topic_label, q.impact_reason)
    return chunks


def _entity_chunks(episode: Episode) -> list[Chunk]:
    chunks: list[Chunk] = []
    # only transcript windows group: two descriptions worded alike still describe two entities
    windows = [e.context if e.position is not None and e.context else "" for e in episode.companies]
    dups = duplicate_groups(windows, DUP_WINDOW_CONTAINMENT)
    for e in episode.companies:
        md = _base(episode, "companies", e.index, e.line_start, e.line_end)
        md["name"] = e.name
        if e.index in dups:
            md["dup_group"] = dups[e.index]
        if e.category:
            md["topic"] = e.category
        if e.position is not None:
            md["transcript_position"] = e.position
        _add(chunks, episode, "companies", e.index, e.context or e.name, md, f"{e.name} ({e.category or 'entity'})")
    return chunks


def _summary_chunks(episode: Episode) -> list[Chunk]:
    chunks: list[Chunk] = []
    for s in episode.summary:
        md = _base(episode, "summary", s.index, s.line_start, s.line_end)
        md["topic"] = s.heading
        _add(chunks, episode, "summary", s.index, s.text, md, "Episode summary:", s.heading)
    return chunks


def _insight_chunks(episode: Episode) -> list[Chunk]:
    chunks: list[Chunk] = []
    for ins in episode.insights:
        md = _base(episode, "insights", ins.index, ins.line_start, ins.line_end)
        if ins.type:
            md["topic"] = ins.type
        _add(chunks, episode, "insights", ins.index, ins.text, md, ins.type or "insight")
    return chunks


def _overview_chunks(episode: Episode) -> list[Chunk]:
    return [overview_chunk(episode)]


@dataclass(frozen=True)
class Section:
    """One kind of chunk: its name (the citation id's middle part), how people call it, and the
    function that builds its chunks from an episode. A new kind of chunk is one row below."""

    name: str
    label: str  # a filter's label, plural: "Quotes"
    kind: str  # one item in user words: "speaker quote"
    item: str  # one item in a location: "quote 17 · lines 728–736"
    build: Callable[[Episode], list[Chunk]]

    def location(self, index: int, line_start: int, line_end: int) -> str:
        """Where an item is, for people: "quote 17 · lines 728–736" (the overview has no one place)."""
        if self.name == "overview":
            return "episode overview (front matter)"
        lines = f"line {line_start}" if line_start == line_end else f"lines {line_start}–{line_end}"
        return f"{self.item} {index} · {lines}"


SECTION_TABLE: tuple[Section, ...] = (
    Section("quotes", "Quotes", "speaker quote", "quote", _quote_chunks),
    Section("companies", "Companies & people", "entity mention", "entity", _entity_chunks),
    Section("summary", "Summary", "summary section", "summary section", _summary_chunks),
    Section("insights", "Insights", "insight", "insight", _insight_chunks),
    # last: the store writes it last, as the marker that the episode is complete
    Section("overview", "Overview", "episode overview", "overview", _overview_chunks),
)
SECTIONS = tuple(s.name for s in SECTION_TABLE)
SECTION_BY_NAME = {s.name: s for s in SECTION_TABLE}


def episode_chunks(episode: Episode) -> list[Chunk]:
    """All chunks of one episode, section by section; the overview chunk comes last."""
    return [chunk for section in SECTION_TABLE for chunk in section.build(episode)]


def overview_text(episode: Episode) -> str:
    parts = [f"Title: {episode.title}"]
    if episode.date:
        parts.append(f"Date: {episode.date}")
    if episode.duration is not None:
        parts.append(f"Duration: {episode.duration:g} minutes")
    if episode.tags:
        parts.append("Tags: " + ", ".join(episode.tags))
    if episode.topics:
        parts.append("Topics: " + ", ".join(t.topic for t in episode.topics))
    return "\n".join(parts)


def overview_chunk(episode: Episode) -> Chunk:
    md = _base(episode, "overview", 0, 1, episode.front_matter_end)
    text = overview_text(episode)
    # what listeners ask of an overview ("who are the guests, how long is it, what is it about")
    md["enrichment"] = (
        "What is this episode about, who are the guests, how long is it and when was it released? "
        "Episode overview: title, guests, date, length, tags and main topics."
    )
    return Chunk(citation_id(episode.id, "overview", 0), text, f"{text}\n{md['enrichment']}", md)


def section_counts(chunks: list[Chunk]) -> dict[str, int]:
    counts = {s: 0 for s in SECTIONS}
    for c in chunks:
        counts[c.section] += 1
    return counts
