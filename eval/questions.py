"""The question-set schema and its relevance judgements (qrels).

Two things make judging fair across retrievers:
- ``summary: true`` means *any* summary section answers the question, so all summary sections
  map to one judged document, ``{episode}/summary`` (else nDCG would demand every section);
- near-duplicate quotes map to their group's id (``{episode}/quotes/{group}``), so a retriever that
  collapses duplicates and one that lists both are judged alike.
Runs go through the same ``judged_id`` mapping, keeping the first rank of each judged document.
Both work per episode: each episode has its own duplicate groups and its own summary document.

Each question may carry a ``split`` ("tune": may be looked at while tuning; "test": held out) and, if
unanswerable, a ``refusal`` reason ("off_topic" or "not_stated"); ``QuestionSet.subset`` picks a half.

Many episodes: ``relevant`` items may name their episode (``{episode: ID, quotes: [..]}``) or be full
citation ids (``"e8dde77376fc3016/quotes/17"``); items without an episode belong to the question's
``episode`` (its scope), else to the file's one ``source``.

    >>> canon = Canonicaliser({"e": {26: 25}})
    >>> canon.judged_id("e/quotes/26"), canon.judged_id("e/summary/3"), canon.judged_id("f/quotes/26")
    ('e/quotes/25', 'e/summary', 'f/quotes/26')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vectorstore.chunks import SECTIONS

KINDS = ("factual", "opinion", "prediction", "entity", "summary", "multi_hop", "unanswerable", "followup")
SPLITS = ("tune", "test")
REFUSALS = ("off_topic", "not_stated")
BUNDLED = Path(__file__).with_name("questions.yaml")
ITEM_LISTS = ("quotes", "companies", "insights")  # the judged lists of an episode, by 0-based index
# a full citation id; a summary id may leave out its section number (it stands for any section)
CITATION_ID = re.compile(rf"^([A-Za-z0-9][A-Za-z0-9_.-]{{0,127}})/({'|'.join(SECTIONS)})(?:/(\d+))?$")


class QuestionFileError(ValueError):
    pass


@dataclass
class Question:
    id: str
    question: str
    kind: str
    # judged items of the question's own episode (its scope, or the file's one source)
    quotes: list[int] = field(default_factory=list)
    companies: list[int] = field(default_factory=list)
    insights: list[int] = field(default_factory=list)
    summary: bool = False
    answer_points: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    split: str | None = None  # "tune" | "test" | None (file without split marks)
    refusal: str | None = None  # unanswerable only: "off_topic" | "not_stated" | None
    episode: str | None = None  # search and answer only in this episode; None = the file's episode(s)
    refs: list[str] = field(default_factory=list)  # judged items that name their episode: "ep/quotes/17"
    required_points: list[str] = field(default_factory=list)  # answer points marked `must: true`

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"

    @property
    def has_own_items(self) -> bool:
        return bool(self.quotes or self.companies or self.insights or self.summary)

    def relevant_ids(self, episode: str | None) -> list[str]:
        """Chunk ids of the judged items; ``episode`` is where items without one belong.

        >>> Question("q", "?", "factual", quotes=[3], summary=True, refs=["f/insights/0"]).relevant_ids("e")
        ['e/quotes/3', 'e/summary', 'f/insights/0']
        """
        if self.has_own_items and not episode:
            raise QuestionFileError(f"question {self.id}: its relevant items name no episode")
        own = [f"{episode}/{name}/{i}" for name in ITEM_LISTS for i in getattr(self, name)]
        return own + ([f"{episode}/summary"] if self.summary else []) + list(self.refs)


@dataclass
class QuestionSet:
    source: str | list[str] | None  # the episode file(s) the labels refer to; None = the store as it is
    questions: list[Question]
    path: Path | None

    @property
    def sources(self) -> list[str]:
        if not self.source:
            return []
        return [self.source] if isinstance(self.source, str) else list(self.source)

    @property
    def has_splits(self) -> bool:
        return any(q.split for q in self.questions)

    def subset(self, split: str) -> QuestionSet:
        """The questions of one half: "tune", "test", or "all" (everything).

        A set without any split marks has no halves, so every split name returns all of it.

            >>> qs = QuestionSet("x.txt", [Question("a", "?", "factual", split="tune"),
            ...                            Question("b", "?", "factual", split="test")], None)
            >>> [q.id for q in qs.subset("test").questions], len(qs.subset("all").questions)
            (['b'], 2)
        """
        if split != "all" and split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of all, {', '.join(SPLITS)}")
        if split == "all" or not self.has_splits:
            return QuestionSet(self.source, list(self.questions), self.path)
        return QuestionSet(self.source, [q for q in self.questions if q.split == split], self.path)

    def head(self, n: int | None) -> QuestionSet:
        """The first ``n`` questions (all when ``n`` is None): quick runs of a slow answerer."""
        return self if n is None else QuestionSet(self.source, self.questions[:n], self.path)


# --- loading --------------------------------------------------------------------------------------
def _int_list(value, where: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise QuestionFileError(f"{where}: expected a list of 0-based indexes, got {value!r}")
    if any(i < 0 for i in value):
        raise QuestionFileError(f"{where}: indexes are 0-based and never negative")
    return value


def _citation_ref(value: str, where: str) -> str:
    m = CITATION_ID.match(value.strip())
    if not m or (m.group(3) is None and m.group(2) != "summary"):
        raise QuestionFileError(
            f"{where}: {value!r} is not a citation id like 'e8dde77376fc3016/quotes/17' (or '<episode>/summary')"
        )
    episode, section, index = m.groups()
    return f"{episode}/summary" if section == "summary" else f"{episode}/{section}/{index}"


def _parse_relevant(raw, q: Question, where: str) -> None:
    """Fill ``q``'s judged items from ``relevant``: a mapping, a citation id, or a list of either."""
    entries = raw if isinstance(raw, list) else [raw]
    for entry in entries:
        if isinstance(entry, str):
            q.refs.append(_citation_ref(entry, where))
            continue
        if not isinstance(entry, Mapping):
            raise QuestionFileError(f"{where}: a relevant item is a mapping or a citation id, not {entry!r}")
        unknown = set(entry) - {"episode", "summary", *ITEM_LISTS}
        if unknown:
            raise QuestionFileError(
                f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} in relevant "
                f"(known: episode, {', '.join(ITEM_LISTS)}, summary)"
            )
        episode = entry.get("episode")
        lists = {name: _int_list(entry.get(name) or [], f"{where}: relevant {name}") for name in ITEM_LISTS}
        if episode is None:
            for name, items in lists.items():
                getattr(q, name).extend(items)
            q.summary = q.summary or bool(entry.get("summary", False))
            continue
        episode = str(episode)
        if not CITATION_ID.match(f"{episode}/summary"):
            raise QuestionFileError(f"{where}: {episode!r} is not an episode id")
        q.refs += [f"{episode}/{name}/{i}" for name, items in lists.items() for i in items]
        if entry.get("summary"):
            q.refs.append(f"{episode}/summary")


def _parse_points(raw, q: Question, where: str) -> None:
    for p in raw or []:
        if isinstance(p, Mapping):
            if not str(p.get("text") or "").strip():
                raise QuestionFileError(f"{where}: an answer point given as a mapping needs 'text'")
            q.answer_points.append(str(p["text"]))
            if p.get("must"):
                q.required_points.append(str(p["text"]))
        else:
            q.answer_points.append(str(p))


def _parse_source(raw, path: Path) -> str | list[str] | None:
    if raw is None or raw == [] or raw == "":
        return None
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list) and all(isinstance(s, str) and s for s in raw):
        return raw[0] if len(raw) == 1 else list(raw)
    raise QuestionFileError(f"{path}: 'source' is an episode file name or a list of them")


def load_questions(path: str | Path | None = None) -> QuestionSet:
    path = Path(path) if path else BUNDLED
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise QuestionFileError(f"{path}: cannot read question file: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise QuestionFileError(f"{path}: expected a 'questions' key (a list) and optionally 'source'")
    source = _parse_source(data.get("source"), path)
    n_sources = 0 if source is None else 1 if isinstance(source, str) else len(source)
    questions, seen = [], set()
    for n, raw in enumerate(data["questions"]):
        where = f"{path}: question {n + 1}"
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("question"):
            raise QuestionFileError(f"{where}: needs 'id' and 'question'")
        qid = str(raw["id"])
        if qid in seen:
            raise QuestionFileError(f"{where}: duplicate id {qid!r}")
        if any(ch.isspace() for ch in qid):
            raise QuestionFileError(f"{where}: id {qid!r} has a space (ids are written to TREC run files)")
        seen.add(qid)
        where = f"{where} ({qid})"
        kind = raw.get("kind", "factual")
        if kind not in KINDS:
            raise QuestionFileError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        split, refusal = raw.get("split"), raw.get("refusal")
        if split is not None and split not in SPLITS:
            raise QuestionFileError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
        if refusal is not None and refusal not in REFUSALS:
            raise QuestionFileError(f"{where}: refusal {refusal!r} is not one of {', '.join(REFUSALS)}")
        if refusal is not None and kind != "unanswerable":
            raise QuestionFileError(f"{where}: refusal is only for unanswerable questions")
        episode = raw.get("episode")
        q = Question(
            id=qid,
            question=str(raw["question"]),
            kind=kind,
            history=list(raw.get("history") or []),
            split=split,
            refusal=refusal,
            episode=str(episode) if episode is not None else None,
        )
        _parse_relevant(raw.get("relevant") or {}, q, where)
        _parse_points(raw.get("answer_points"), q, where)
        if q.answerable and not (q.has_own_items or q.refs):
            raise QuestionFileError(f"{where}: an answerable question needs at least one relevant item")
        if not q.answerable and (q.has_own_items or q.refs):
            raise QuestionFileError(f"{where}: an unanswerable question has no relevant items")
        if q.has_own_items and q.episode is None and n_sources != 1:
            raise QuestionFileError(
                f"{where}: its relevant items name no episode; with {n_sources or 'no'} source files, give the "
                "question an 'episode:' or name the episode in each item ({episode: ID, quotes: [..]})"
            )
        questions.append(q)
    return QuestionSet(source, questions, path)


# --- judging --------------------------------------------------------------------------------------
class Canonicaliser:
    """Maps chunk ids to judged ids (see the module docstring); ``dup_groups`` holds each
    episode's quote index -> group id."""

    def __init__(self, dup_groups: Mapping[str, Mapping[int, int]]):
        self.dup_groups = dup_groups

    def judged_id(self, chunk_id: str) -> str:
        episode, _, rest = chunk_id.partition("/")
        section, _, index = rest.partition("/")
        if section == "summary":
            return f"{episode}/summary"
        if section == "quotes" and index.isdigit():
            group = self.dup_groups.get(episode, {}).get(int(index), int(index))
            return f"{episode}/quotes/{group}"
        return chunk_id

    def relevant(self, q: Question, episode: str | None) -> set[str]:
        """The judged ids of ``q``; ``episode`` is where its items without an episode belong."""
        return {self.judged_id(cid) for cid in q.relevant_ids(episode)}

    def ranking(self, chunk_ids: list[str]) -> list[str]:
        """Judged ids in rank order, each at its first rank."""
        out: list[str] = []
        for cid in chunk_ids:
            j = self.judged_id(cid)
            if j not in out:
                out.append(j)
        return out
