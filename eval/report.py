"""Eval output: a terminal summary, and ``report.md`` + ``report.json`` + ``metrics.png``."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .measures import MEASURES

WORST = 10


def _table(rows: dict[str, dict[str, float]], first: str) -> list[str]:
    head = f"| {first} | " + " | ".join(MEASURES) + " |"
    sep = "|" + "---|" * (len(MEASURES) + 1)
    body = [f"| {name} | " + " | ".join(f"{m[k]:.3f}" for k in MEASURES) + " |" for name, m in rows.items()]
    return [head, sep, *body]


def worst_questions(result: dict, retriever: str = "hybrid", n: int = WORST) -> list[dict]:
    per_q = result["per_question"].get(retriever) or next(iter(result["per_question"].values()))
    questions = {a["id"]: a for a in result["answers"]}
    worst = sorted(per_q, key=lambda qid: (per_q[qid]["nDCG@10"], qid))[:n]
    return [
        {
            "id": qid,
            "question": questions[qid]["question"],
            "kind": questions[qid]["kind"],
            "nDCG@10": per_q[qid]["nDCG@10"],
            "relevant": result["relevant"][qid],
            "retrieved": result["runs"].get(retriever, {}).get(qid, [])[:5],
        }
        for qid in worst
    ]


def markdown(result: dict) -> str:
    lines = [
        "# Eval report",
        "",
        f"Questions: `{result['questions']}` · episode `{result['episode_id']}` · k={result['k']} · "
        f"answerer `{result['answerer']}` · {result['seconds']} s",
        "",
        "## Retrieval (answerable questions)",
        "",
        *_table(result["retrievers"], "retriever"),
        "",
    ]
    lines += ["## Per kind", ""]
    for kind, rows in result["per_kind"].items():
        lines += [f"### {kind}", "", *_table(rows, "retriever"), ""]
    r = result["refusal"]
    lines += [
        "## Answers",
        "",
        f"- unanswerable refused: {r['unanswerable_refused']}/{r['unanswerable']}",
        f"- answerable refused: {r['answerable_refused']}/{r['answerable']}",
        f"- citations valid (verbatim at their lines): {result['citations_valid']:.1%}",
        f"- answer points covered: {result['answer_points']:.1%}",
        f"- refusal threshold: {result['refusal_threshold']}",
        "",
    ]
    lines += [f"## The {WORST} worst questions (hybrid, by nDCG@10)", ""]
    for w in worst_questions(result):
        lines += [
            f"- **{w['id']}** ({w['kind']}, nDCG@10 {w['nDCG@10']:.3f}): {w['question']}",
            f"  - relevant: {', '.join(x.split('/', 1)[1] for x in w['relevant'])}",
            f"  - retrieved: {', '.join(x.split('/', 1)[1] for x in w['retrieved']) or '(nothing)'}",
        ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display here
    import matplotlib.pyplot as plt

    names = list(result["retrievers"])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        values = [result["retrievers"][name][m] for m in MEASURES]
        xs = [j + i * width for j in range(len(MEASURES))]
        ax.bar(xs, values, width, label=name)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(MEASURES))], list(MEASURES))
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    ax.set_title("Retrieval metrics by retriever")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


SUMMARY_KEYS = ("retrievers", "refusal", "citations_valid", "answer_points", "per_kind")


def write_summary_json(result: dict, path: Path) -> None:
    """``eval --json FILE``: the headline numbers only (report.json has everything)."""
    path.write_text(json.dumps({k: result[k] for k in SUMMARY_KEYS}, indent=2) + "\n")


def write_report(result: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.md").write_text(markdown(result), encoding="utf-8")
    (folder / "report.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot(result, folder / "metrics.png")


def print_summary(result: dict, calibration: bool = False) -> None:
    console = Console()
    table = Table(title=f"retrieval over {len(result['relevant'])} answerable questions ({result['seconds']} s)")
    table.add_column("retriever")
    for m in MEASURES:
        table.add_column(m, justify="right")
    for name, m in result["retrievers"].items():
        table.add_row(name, *(f"{m[k]:.3f}" for k in MEASURES))
    console.print(table)
    r = result["refusal"]
    console.print(
        f"refused: unanswerable {r['unanswerable_refused']}/{r['unanswerable']}, "
        f"answerable {r['answerable_refused']}/{r['answerable']} · citations valid "
        f"{result['citations_valid']:.1%} · answer points {result['answer_points']:.1%}"
    )
    if calibration:
        cal = Table(title="refusal threshold sweep (signal = best dense cosine)")
        for col in ("threshold", "answerable refused", "unanswerable refused", "balanced accuracy"):
            cal.add_column(col, justify="right")
        for row in result["calibration"]:
            cal.add_row(
                f"{row['threshold']:.2f}",
                str(row["answerable_refused"]),
                str(row["unanswerable_refused"]),
                str(row["balanced_accuracy"]),
            )
        console.print(cal)
