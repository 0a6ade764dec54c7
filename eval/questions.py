"""The question-set schema and its relevance judgements (qrels).

Two things make judging fair across retrievers:
- ``summary: true`` means *any* summary section answers the question, so all summary sections
  map to one judged document, ``{episode}/summary`` (else nDCG would demand every section);
- near-duplicate quotes map to their group's id (``{episode}/quotes/{group}``), so a retriever that
  collapses duplicates and one that lists both are judged alike.
Runs go through the same ``judged_id`` mapping, keeping the first rank of each judged document.

Each question may carry a ``split`` ("tune": may be looked at while tuning; "test": held out) and, if
unanswerable, a ``refusal`` reason ("off_topic" or "not_stated"); ``QuestionSet.subset`` picks a half.

    >>> canon = Canonicaliser("e", {26: 25})
    >>> canon.judged_id("e/quotes/26"), canon.judged_id("e/summary/3")
    ('e/quotes/25', 'e/summary')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

KINDS = ("factual", "opinion", "prediction", "entity", "summary", "multi_hop", "unanswerable", "followup")
SPLITS = ("tune", "test")
REFUSALS = ("off_topic", "not_stated")
BUNDLED = Path(__file__).with_name("questions.yaml")


class QuestionFileError(ValueError):
    pass


@dataclass
class Question:
    id: str
    question: str
    kind: str
    quotes: list[int] = field(default_factory=list)
    companies: list[int] = field(default_factory=list)
    insights: list[int] = field(default_factory=list)
    summary: bool = False
    answer_points: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    split: str | None = None  # "tune" | "test" | None (file without split marks)
    refusal: str | None = None  # unanswerable only: "off_topic" | "not_stated" | None

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"


@dataclass
class QuestionSet:
    source: str
    questions: list[Question]
    path: Path

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
        if split == "all" or not any(q.split for q in self.questions):
            return QuestionSet(self.source, list(self.questions), self.path)
        return QuestionSet(self.source, [q for q in self.questions if q.split == split], self.path)


def load_questions(path: str | Path | None = None) -> QuestionSet:
    path = Path(path) if path else BUNDLED
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise QuestionFileError(f"{path}: cannot read question file: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list) or not data.get("source"):
        raise QuestionFileError(f"{path}: expected keys 'source' and 'questions' (a list)")
    questions, seen = [], set()
    for n, raw in enumerate(data["questions"]):
        where = f"{path}: question {n + 1}"
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("question"):
            raise QuestionFileError(f"{where}: needs 'id' and 'question'")
        if raw["id"] in seen:
            raise QuestionFileError(f"{where}: duplicate id {raw['id']!r}")
        seen.add(raw["id"])
        kind = raw.get("kind", "factual")
        if kind not in KINDS:
            raise QuestionFileError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        split, refusal = raw.get("split"), raw.get("refusal")
        if split is not None and split not in SPLITS:
            raise QuestionFileError(f"{where} ({raw['id']}): split {split!r} is not one of {', '.join(SPLITS)}")
        if refusal is not None and refusal not in REFUSALS:
            raise QuestionFileError(f"{where} ({raw['id']}): refusal {refusal!r} is not one of {', '.join(REFUSALS)}")
        if refusal is not None and kind != "unanswerable":
            raise QuestionFileError(f"{where} ({raw['id']}): refusal is only for unanswerable questions")
        rel = raw.get("relevant") or {}
        q = Question(
            id=str(raw["id"]),
            question=str(raw["question"]),
            kind=kind,
            quotes=[int(i) for i in rel.get("quotes") or []],
            companies=[int(i) for i in rel.get("companies") or []],
            insights=[int(i) for i in rel.get("insights") or []],
            summary=bool(rel.get("summary", False)),
            answer_points=[str(p) for p in raw.get("answer_points") or []],
            history=list(raw.get("history") or []),
            split=split,
            refusal=refusal,
        )
        if q.answerable and not (q.quotes or q.companies or q.insights or q.summary):
            raise QuestionFileError(f"{where} ({q.id}): an answerable question needs at least one relevant item")
        questions.append(q)
    return QuestionSet(str(data["source"]), questions, path)


class Canonicaliser:
    """Maps chunk ids to judged ids (see the module docstring)."""

    def __init__(self, episode_id: str, dup_group: dict[int, int]):
        self.episode_id, self.dup_group = episode_id, dup_group

    def judged_id(self, chunk_id: str) -> str:
        episode, _, rest = chunk_id.partition("/")
        section, _, index = rest.partition("/")
        if section == "summary":
            return f"{episode}/summary"
        if section == "quotes" and episode == self.episode_id and index.isdigit():
            return f"{episode}/quotes/{self.dup_group.get(int(index), int(index))}"
        return chunk_id

    def relevant(self, q: Question) -> set[str]:
        e = self.episode_id
        ids = {self.judged_id(f"{e}/quotes/{i}") for i in q.quotes}
        ids |= {f"{e}/companies/{i}" for i in q.companies} | {f"{e}/insights/{i}" for i in q.insights}
        if q.summary:
            ids.add(f"{e}/summary")
        return ids

    def ranking(self, chunk_ids: list[str]) -> list[str]:
        """Judged ids in rank order, each at its first rank."""
        out: list[str] = []
        for cid in chunk_ids:
            j = self.judged_id(cid)
            if j not in out:
                out.append(j)
        return out
