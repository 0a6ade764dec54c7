"""A saved run: what ``eval --report DIR`` writes so that a later run can be compared with it
(``eval --against DIR``) without re-running it.

    DIR/qrels.trec               the judged documents of each question   (qid 0 docid 1)
    DIR/runs/<retriever>.trec    each retriever's ranking                (qid Q0 docid rank score tag)
    DIR/answers/<answerer>.jsonl one row per question: refused, reason, points covered, ...
    DIR/report.json              everything, including the settings the run used

Runs and qrels are in judged ids (see ``eval.questions``), so ``trec_eval qrels.trec runs/hybrid.trec``
reproduces the reported numbers.

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> write_trec_run(folder / "r.trec", {"q1": ["e/quotes/3", "e/summary"]}, "hybrid")
    >>> read_trec_run(folder / "r.trec")
    {'q1': ['e/quotes/3', 'e/summary']}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import EvalError

RUNS = "runs"
ANSWERS = "answers"
QRELS = "qrels.trec"


def write_trec_run(path: Path, rankings: dict[str, list[str]], tag: str) -> None:
    lines = [
        f"{qid} Q0 {doc} {rank} {len(docs) - rank + 1} {tag}"
        for qid, docs in rankings.items()
        for rank, doc in enumerate(docs, start=1)
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _lines(path: Path, fields: int, shape: str):
    """The whitespace-separated fields of each non-empty line, checked to be ``fields`` many."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if parts and len(parts) != fields:
            raise EvalError(f"{path}:{n}: not a {shape} line: {line[:80]!r}")
        if parts:
            yield parts


def read_trec_run(path: Path) -> dict[str, list[str]]:
    """Rankings by question, best first (by score, then by rank as written)."""
    rows: dict[str, list[tuple[float, int, str]]] = {}
    for qid, _, doc, rank, score, _ in _lines(path, 6, "TREC run (qid Q0 docid rank score tag)"):
        rows.setdefault(qid, []).append((-float(score), int(rank), doc))
    return {qid: [doc for *_, doc in sorted(docs)] for qid, docs in rows.items()}


def write_qrels(path: Path, qrels: dict[str, list[str]]) -> None:
    path.write_text("".join(f"{qid} 0 {doc} 1\n" for qid, docs in qrels.items() for doc in docs), encoding="utf-8")


def read_qrels(path: Path) -> dict[str, set[str]]:
    qrels: dict[str, set[str]] = {}
    for qid, _, doc, relevance in _lines(path, 4, "qrels (qid 0 docid relevance)"):
        if int(relevance) > 0:
            qrels.setdefault(qid, set()).add(doc)
    return qrels


def write_saved(result: dict, folder: Path) -> None:
    (folder / RUNS).mkdir(parents=True, exist_ok=True)
    (folder / ANSWERS).mkdir(exist_ok=True)
    write_qrels(folder / QRELS, result["relevant"])
    for name, rankings in result["judged_runs"].items():
        write_trec_run(folder / RUNS / f"{name}.trec", rankings, name)
    for name, rows in result["answers_by_answerer"].items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (folder / ANSWERS / f"{name}.jsonl").write_text(text, encoding="utf-8")


@dataclass
class SavedRun:
    folder: Path
    qrels: dict[str, set[str]]
    runs: dict[str, dict[str, list[str]]]
    answers: dict[str, list[dict]] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def load_saved(folder: str | Path) -> SavedRun:
    folder = Path(folder)
    if not folder.is_dir():
        raise EvalError(f"--against {folder}: no such folder")
    runs = {p.stem: read_trec_run(p) for p in sorted((folder / RUNS).glob("*.trec"))}
    if not runs or not (folder / QRELS).is_file():
        raise EvalError(
            f"--against {folder}: holds no saved run ({QRELS} and {RUNS}/*.trec); "
            "write one with `episode-assistant eval --report DIR`"
        )
    answers = {}
    for path in sorted((folder / ANSWERS).glob("*.jsonl")):
        try:
            answers[path.stem] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        except json.JSONDecodeError as e:
            raise EvalError(f"{path}: {e}") from None
    settings = {}
    if (folder / "report.json").is_file():
        try:
            settings = json.loads((folder / "report.json").read_text(encoding="utf-8")).get("settings") or {}
        except json.JSONDecodeError:
            settings = {}
    return SavedRun(folder, read_qrels(folder / QRELS), runs, answers, settings)
