"""Eval output: a terminal summary, and ``report.md`` + ``report.json`` + ``metrics.png`` (+
``compare.png`` against a saved run) + the saved run itself (``eval.saved``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .compare import STAT_TESTS
from .measures import MEASURES, PRIMARY
from .saved import write_saved

WORST = 10


# --- formatting helpers ---------------------------------------------------------------------------
def _pct(x) -> str:
    return "–" if x is None else f"{x:.1%}"


def _num(x, digits: int = 0) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _p(row: dict) -> str:
    return f"{row['p_adjusted']:.3f}" + ("*" if row["significant"] else "")


def short_id(result: dict, cid: str) -> str:
    """``quotes/17`` when the run has one episode; the full citation id otherwise."""
    return cid.split("/", 1)[1] if len(result.get("episodes") or {}) <= 1 and "/" in cid else cid


def _columns(result: dict) -> list[tuple[str, str, dict]]:
    """(answerer, half, figures) for every answerer, whole set first, then each half."""
    cols = []
    for name, figures in result.get("answerers", {}).items():
        cols.append((name, "all", figures))
        for half, data in result.get("splits", {}).items():
            cols.append((name, half, data["answerers"][name]))
    return cols


def _refused(r: dict, key: str) -> str:
    return f"{r[key + '_refused']}/{r[key]}"


def _expected(r: dict, reason: str) -> str:
    e = r.get("by_expected", {}).get(reason)
    if not e:
        return "–"
    why = ", ".join(f"{k} {v}" for k, v in sorted(e["reasons"].items()))
    return f"{e['refused']}/{e['questions']}" + (f" ({why})" if why else "")


def answer_rows(result: dict) -> list[tuple[str, list[str]]]:
    """The answer figures as (label, one cell per column of ``_columns``)."""
    cols = [f for *_, f in _columns(result)]
    reasons = sorted({k for f in cols for k in f["refusal"].get("by_expected", {})})
    rows = [("unanswerable refused", [_refused(f["refusal"], "unanswerable") for f in cols])]
    rows += [(f"  expected {reason}", [_expected(f["refusal"], reason) for f in cols]) for reason in reasons]
    rows += [
        ("answerable refused", [_refused(f["refusal"], "answerable") for f in cols]),
        ("citations valid", [_pct(f["citations_valid"]) for f in cols]),
        ("answer points covered", [_pct(f["answer_points"]) for f in cols]),
        ("required points covered", [_pct(f["required_points"]) for f in cols]),
        ("answer words, median / p90", [f"{_num(f['words_median'])} / {_num(f['words_p90'])}" for f in cols]),
        ("fragment rate (spans)", [f"{_pct(f['fragment_rate'])} ({f['spans']})" for f in cols]),
        ("unsupported sentences", [f"{_pct(f['unsupported_rate'])} ({f['sentences']})" for f in cols]),
        ("seconds per answer, median", [_num(f["seconds_median"], 2) for f in cols]),
    ]
    return rows


# --- report.md ------------------------------------------------------------------------------------
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


def _significance_md(sig: dict) -> list[str]:
    lines = [
        "## Hybrid against each baseline",
        "",
        f"Hybrid minus baseline; p from {STAT_TESTS[sig['stat_test']]}, adjusted (Benjamini-Hochberg) over the "
        f"{len(MEASURES)} measures of each baseline; * = below {sig['alpha']}; {sig['questions']} questions.",
        "",
        "| baseline | " + " | ".join(MEASURES) + " |",
        "|" + "---|" * (len(MEASURES) + 1),
    ]
    for t in sig["tests"]:
        cells = [f"{_signed(t['metrics'][m]['delta'])} (p {_p(t['metrics'][m])})" for m in MEASURES]
        lines.append(f"| {t['control']} | " + " | ".join(cells) + " |")
    return lines + [""]


def _comparison_md(result: dict) -> list[str]:
    c = result["comparison"]
    lines = [
        f"## Compared with `{c['against']}`",
        "",
        f"{c['questions']} answerable questions in both runs; adjusted p ({STAT_TESTS[c['stat_test']]}, "
        f"Benjamini-Hochberg over the {len(MEASURES)} measures of each retriever), * = below {c.get('alpha', 0.05)}.",
        "",
    ]
    if c["settings"]:
        lines += [
            "Settings changed: " + ", ".join(f"`{k}` {v['before']} → {v['after']}" for k, v in c["settings"].items()),
            "",
        ]
    if c["judgements_changed"]:
        lines += [
            f"Judgements changed since the saved run for: {', '.join(c['judgements_changed'])} "
            "(both runs are scored with today's).",
            "",
        ]
    lines += ["| retriever | measure | saved | now | delta | p | adjusted p |", "|---|---|---|---|---|---|---|"]
    for t in c["tests"]:
        for m, row in t["metrics"].items():
            lines.append(
                f"| {t['retriever']} | {m} | {row['control']:.3f} | {row['treatment']:.3f} | {_signed(row['delta'])} "
                f"| {row['p']:.3f} | {_p(row)} |"
            )
    lines += ["", "![per-question deltas](compare.png)", ""]
    for t in c["tests"]:
        ch = t["changes"]
        lines += [
            f"### {t['retriever']}: {ch['better']} questions better, {ch['worse']} worse, "
            f"{ch['same']} unchanged ({ch['measure']})",
            "",
        ]
        for title, rows in (("Biggest wins", ch["wins"]), ("Biggest losses", ch["losses"])):
            if rows:
                lines += [f"{title}:", ""]
                lines += [
                    f"- **{r['id']}** {r['before']:.3f} → {r['after']:.3f} ({_signed(r['delta'])}): {r['question']}"
                    for r in rows
                ]
                lines.append("")
    for name, a in c["answers"].items():
        before, after = a["before"], a["after"]
        lines += [
            f"### Answers ({name}), {a['questions']} questions in both runs",
            "",
            f"- answer points: {_pct(before['answer_points'])} → {_pct(after['answer_points'])} "
            f"(+{a['points_gained']} gained on {len(a['gained'])} questions, "
            f"-{a['points_lost']} lost on {len(a['lost'])})",
            f"- unanswerable refused: {_refused(before['refusal'], 'unanswerable')} → "
            f"{_refused(after['refusal'], 'unanswerable')}; answerable refused: "
            f"{_refused(before['refusal'], 'answerable')} → {_refused(after['refusal'], 'answerable')}",
        ]
        lines += [
            f"- {'✓' if f['better'] else '✗'} **{f['id']}** ({f['kind']}) {f['before']} → {f['after']}: {f['question']}"
            for f in a["refusal_flips"]
        ]
        lines.append("")
    return lines


def markdown(result: dict) -> str:
    episodes = result.get("episodes") or {result["episode_id"]: result.get("source")}
    overrides = result.get("overrides") or {}
    lines = [
        "# Eval report",
        "",
        f"Questions: `{result['questions']}` · episode{'s' if len(episodes) > 1 else ''} "
        + ", ".join(f"`{e}`" for e in episodes)
        + f" · k={result['k']} · answerer{'s' if len(result.get('answerers', {})) > 1 else ''} "
        + ", ".join(f"`{a}`" for a in result.get("answerers", {result["answerer"]: None}))
        + (f" · split `{result['split']}`" if result.get("split") else "")
        + (f" · first {result['limit']} questions" if result.get("limit") else "")
        + f" · {result['seconds']} s",
        "",
    ]
    if result.get("store"):
        lines += [f"Judged on {result['store']}.", ""]
    if overrides:
        lines += ["Settings for this run: " + ", ".join(f"`{k}={v}`" for k, v in overrides.items()), ""]
    lines += ["## Retrieval (answerable questions)", "", *_table(result["retrievers"], "retriever"), ""]
    if result.get("splits"):
        lines += [
            "### By half",
            "",
            "| retriever | half | " + " | ".join(MEASURES) + " |",
            "|" + "---|" * (len(MEASURES) + 2),
        ]
        for name in result["retrievers"]:
            for half, data in result["splits"].items():
                m = data["retrievers"][name]
                lines.append(f"| {name} | {half} | " + " | ".join(f"{m[k]:.3f}" for k in MEASURES) + " |")
        lines.append("")
    if result.get("significance"):
        lines += _significance_md(result["significance"])
    lines += ["## Per kind", ""]
    for kind, rows in result["per_kind"].items():
        lines += [f"### {kind}", "", *_table(rows, "retriever"), ""]
    if result.get("answerers"):
        cols = _columns(result)
        lines += [
            "## Answers",
            "",
            "| | " + " | ".join(name if half == "all" else f"{name} · {half}" for name, half, _ in cols) + " |",
            "|" + "---|" * (len(cols) + 1),
        ]
        lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in answer_rows(result)]
        lines += [
            "",
            "Both refusal reasons (`off_topic`, `not_stated`) count as refusals. A fragment is an answer span cut "
            "mid-word in its source; an unsupported sentence is one the citation guard finds no cited source for.",
            "",
        ]
    lines += [f"Refusal threshold: {result['refusal_threshold']}", ""]
    if result.get("comparison"):
        lines += _comparison_md(result)
    lines += [f"## The {WORST} worst questions (hybrid, by nDCG@10)", ""]
    for w in worst_questions(result):
        lines += [
            f"- **{w['id']}** ({w['kind']}, nDCG@10 {w['nDCG@10']:.3f}): {w['question']}",
            f"  - relevant: {', '.join(short_id(result, x) for x in w['relevant'])}",
            f"  - retrieved: {', '.join(short_id(result, x) for x in w['retrieved']) or '(nothing)'}",
        ]
    return "\n".join(lines) + "\n"


# --- plots ----------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display here
    import matplotlib.pyplot as plt

    return plt


def plot(result: dict, path: Path) -> None:
    plt = _pyplot()
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


def plot_deltas(comparison: dict, path: Path) -> None:
    """Per-question change of the primary measure, sorted, one panel per retriever that changed
    (the first one when none did)."""
    plt = _pyplot()
    tests = [t for t in comparison["tests"] if t["changes"]["better"] or t["changes"]["worse"]]
    tests = tests or comparison["tests"][:1]
    fig, axes = plt.subplots(max(1, len(tests)), 1, figsize=(9, 2.6 * max(1, len(tests))), squeeze=False)
    for ax, t in zip(axes[:, 0], tests):
        deltas = sorted(t["changes"]["deltas"].values())
        ax.bar(range(len(deltas)), deltas, width=1.0, color=["#c0392b" if d < 0 else "#27ae60" for d in deltas])
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_ylim(-1, 1)
        ax.set_ylabel(f"Δ {PRIMARY}")
        ax.set_xlabel("questions, sorted by change")
        m = t["metrics"][PRIMARY]
        ax.set_title(
            f"{t['retriever']}: {PRIMARY} {m['control']:.3f} → {m['treatment']:.3f} "
            f"({_signed(m['delta'])}, adjusted p {m['p_adjusted']:.3f})",
            fontsize=9,
        )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- files ----------------------------------------------------------------------------------------
SUMMARY_KEYS = ("retrievers", "refusal", "citations_valid", "answer_points", "per_kind")
# added later; present when the run produced them
MORE_SUMMARY_KEYS = ("answerers", "splits", "significance", "comparison", "settings", "overrides")


def write_summary_json(result: dict, path: Path) -> None:
    """``eval --json FILE``: the headline numbers only (report.json has everything)."""
    summary = {k: result[k] for k in SUMMARY_KEYS} | {k: result[k] for k in MORE_SUMMARY_KEYS if result.get(k)}
    path.write_text(json.dumps(summary, indent=2) + "\n")


def write_report(result: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.md").write_text(markdown(result), encoding="utf-8")
    (folder / "report.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot(result, folder / "metrics.png")
    if result.get("comparison"):
        plot_deltas(result["comparison"], folder / "compare.png")
    if "judged_runs" in result:
        write_saved(result, folder)


# --- terminal -------------------------------------------------------------------------------------
def _retrieval_table(result: dict) -> Table:
    halves = result.get("splits") or {}
    n = len(result["relevant"])
    table = Table(title=f"retrieval over {n} answerable questions ({result['seconds']} s)")
    table.add_column("retriever")
    if halves:
        table.add_column("half")
    for m in MEASURES:
        table.add_column(m, justify="right")
    for name, m in result["retrievers"].items():
        table.add_row(name, *(["all"] if halves else []), *(f"{m[k]:.3f}" for k in MEASURES))
        for half, data in halves.items():
            hm = data["retrievers"][name]
            table.add_row("", half, *(f"{hm[k]:.3f}" for k in MEASURES), style="dim")
    return table


def _comparison_console(console: Console, result: dict) -> None:
    c = result["comparison"]
    console.print(
        f"against {c['against']}: {c['questions']} answerable questions in both runs; "
        f"{STAT_TESTS[c['stat_test']]}, p adjusted (Benjamini-Hochberg) over each retriever's {len(MEASURES)} measures"
    )
    table = Table()
    for col in ("retriever", "measure", "saved", "now", "delta", "p", "adj. p"):
        table.add_column(col, justify="left" if col in ("retriever", "measure") else "right")
    for t in c["tests"]:
        for m, row in t["metrics"].items():
            style = ("green" if row["delta"] > 0 else "red") if row["significant"] else None
            cells = (f"{row['control']:.3f}", f"{row['treatment']:.3f}", _signed(row["delta"]), f"{row['p']:.3f}")
            table.add_row(t["retriever"], m, *cells, _p(row), style=style)
    console.print(table)
    if c["settings"]:
        changed = ", ".join(f"{k} {v['before']} → {v['after']}" for k, v in c["settings"].items())
        console.print(f"settings changed: {changed}")
    for t in c["tests"][:1]:  # the first retriever (hybrid, usually); report.md has them all
        ch = t["changes"]
        console.print(
            f"{t['retriever']} {ch['measure']}: {ch['better']} questions better, {ch['worse']} worse, "
            f"{ch['same']} unchanged"
        )
        for label, rows in (("win", ch["wins"]), ("loss", ch["losses"])):
            for r in rows:
                change = f"{r['before']:.3f} → {r['after']:.3f} ({_signed(r['delta'])})"
                console.print(f"  {label:4} {r['id']:>6} {change}  {escape(r['question'][:90])}")
    for name, a in c["answers"].items():
        console.print(
            f"answers ({name}): points {_pct(a['before']['answer_points'])} → {_pct(a['after']['answer_points'])} "
            f"(+{a['points_gained']} / -{a['points_lost']}); refusal flips: {len(a['refusal_flips'])}"
        )
        for f in a["refusal_flips"]:
            verdict = "better" if f["better"] else "worse"
            console.print(f"  {verdict:6} {f['id']:>6} {f['before']} → {f['after']}  {escape(f['question'][:80])}")


def print_summary(result: dict, calibration: bool = False) -> None:
    # piped output is not cut to 80 columns: ids and figures must stay whole for scripts and greps
    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(_retrieval_table(result))
    sig = result.get("significance")
    if sig:
        for t in sig["tests"]:
            m = t["metrics"][PRIMARY]
            console.print(
                f"hybrid vs {t['control']}: {PRIMARY} {_signed(m['delta'])} (adjusted p {_p(m)}), "
                f"RR@10 {_signed(t['metrics']['RR@10']['delta'])} (adjusted p {_p(t['metrics']['RR@10'])})"
            )
    if result.get("answerers"):
        cols = _columns(result)
        table = Table(title="answers")
        table.add_column("")
        for name, half, _ in cols:
            table.add_column(name if half == "all" else f"{name} · {half}", justify="right")
        for label, cells in answer_rows(result):
            table.add_row(label, *cells)
        console.print(table)
    if result.get("comparison"):
        _comparison_console(console, result)
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
