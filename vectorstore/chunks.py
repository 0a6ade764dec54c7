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

from .episode import Entity, Episode, Quote

# A quote inherits an entity's transcript offset when they share at least this many characters:
# long enough that common phrases ("I think that the") don't match by chance.
MIN_ANCHOR_OVERLAP = 24
# Two quotes are near-duplicates when this share of the shorter one's word bigrams recurs in the other.
DUP_CONTAINMENT = 0.8


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


def _bigrams(text: str) -> set[tuple[str, str]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return set(zip(words, words[1:])) or {(w, "") for w in words}


def duplicate_groups(quotes: list[Quote]) -> dict[int, int]:
    """Quote index -> group id (the smallest index in its group), for quotes with a near-duplicate."""
    grams = [_bigrams(q.text) for q in quotes]
    parent = list(range(len(quotes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(quotes)):
        for j in range(i + 1, len(quotes)):
            small = min(len(grams[i]), len(grams[j]))
            if small and len(grams[i] & grams[j]) / small >= DUP_CONTAINMENT:
                a, b = root(i), root(j)
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(quotes)):
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
    dups = duplicate_groups(episode.quotes)
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
    for e in episode.companies:
        md = _base(episode, "companies", e.index, e.line_start, e.line_end)
        md["name"] = e.name
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
