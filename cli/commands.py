"""Handlers of the CLI commands: each takes the parsed args and the Settings, prints, and returns
the exit status."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assistant.errors import UserError
from assistant.query import Query
from vectorstore.chunks import SECTIONS
from vectorstore.filters import SearchFilter
from vectorstore.ingest import ingest
from vectorstore.store import EpisodeStore, StoreError, counts_from_manifest


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def console() -> Console:
    # piped output is not cut to 80 columns: ids and titles must stay whole for scripts and greps
    return Console() if sys.stdout.isatty() else Console(width=200)


def open_store(settings) -> EpisodeStore:
    try:
        return EpisodeStore(settings)
    except StoreError as e:
        raise UserError(str(e)) from None


def cmd_ingest(args, settings) -> int:
    store = open_store(settings)
    paths = args.paths or [settings.episodes_dir]
    results = ingest(
        paths,
        store,
        rebuild=args.rebuild,
        prune=args.prune,
        progress=not (args.no_progress or args.json) and sys.stderr.isatty(),
    )
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        print(f"error: {r.error}", file=sys.stderr)
    if args.json:
        print_json({"episodes": [r.as_dict() for r in results]})
    else:
        table = Table(title=f"ingest into {settings.store_label}")
        for col in ("episode", "file", "status", *SECTIONS):
            table.add_column(col, justify="right" if col in SECTIONS else "left")
        for r in results:
            style = {"failed": "red", "added": "green", "updated": "yellow"}.get(r.status)
            table.add_row(
                r.id or "-",
                Path(r.file).name if r.file else "-",
                r.status,
                *(str(r.chunks[s]) for s in SECTIONS),
                style=style,
            )
        console().print(table)
    return 1 if failed else 0


def cmd_list(args, settings) -> int:
    store = open_store(settings)
    rows = [
        {
            "id": m["episode_id"],
            "title": m.get("title"),
            "date": m.get("date"),
            "file": m.get("file"),
            "chunks": counts_from_manifest(m),
        }
        for m in store.episodes()
    ]
    if args.json:
        print_json({"episodes": rows})
        return 0
    table = Table(title=f"{len(rows)} episode(s) in {settings.store_label}")
    for col in ("id", "title", "date", "file", *SECTIONS):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["id"], r["title"] or "", r["date"] or "", r["file"] or "", *(str(r["chunks"][s]) for s in SECTIONS)
        )
    console().print(table)
    return 0


def load_history(path: str | None) -> list[dict]:
    if not path:
        return []
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"cannot read history file {path}: {e}") from None
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(t, dict) and "user" in t for t in data):
        raise UserError(f"history file {path}: expected a list of {{user, assistant}} turns")
    return data


def make_assistant(settings):
    from assistant.chain import EpisodeAssistant  # loads LangChain: only for commands that answer

    assistant = EpisodeAssistant(settings, store=open_store(settings))
    if assistant.store.count() == 0:
        raise UserError(f"the store at {settings.store_label} is empty: run `episode-assistant ingest` first")
    return assistant


def cmd_retrieve(args, settings) -> int:
    assistant = make_assistant(settings)
    assistant.retriever.mode = args.retriever
    # the same checks as ask: a question of words, an indexed episode
    args.question = assistant.check_question(args.question)
    assistant.check_episode(args.episode)
    flt = SearchFilter(
        episode=args.episode, sections=tuple(args.sections) if args.sections else None, min_relevance=args.min_relevance
    )
    result = assistant.retriever.search(args.question, k=args.k, flt=flt)
    rows = [
        {
            "id": h.id,
            "score": round(h.score, 6),
            "section": h.metadata["section"],
            "index": h.metadata["index"],
            "text": h.text,
            "dense_score": h.dense_score,
            "bm25_score": h.bm25_score,
            "alternates": h.alternates,
        }
        for h in result.hits
    ]
    if args.json:
        print_json(rows)
        return 0
    table = Table(title=f"{args.question}  (best dense similarity {result.top_dense:.3f})")
    for col in ("#", "id", "score", "dense", "bm25", "text"):
        table.add_column(col, overflow="fold")
    for n, r in enumerate(rows, 1):
        table.add_row(
            str(n), r["id"], f"{r['score']:.4f}", _fmt(r["dense_score"]), _fmt(r["bm25_score"]), r["text"][:160]
        )
    console().print(table)
    return 0


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def cmd_ask(args, settings) -> int:
    assistant = make_assistant(settings)
    query = Query(args.question, load_history(args.history), args.episode, args.answerer, args.sections)
    live = assistant.answerer(query.answerer).streams_tokens  # worth showing as it is produced
    if args.json:
        print_json(assistant.ask(query).to_dict())
        return 0
    answer = None
    for event in assistant.stream(query):
        if event["type"] == "token" and live:
            sys.stdout.write(event["text"])
            sys.stdout.flush()
        elif event["type"] == "answer":
            answer = event["answer"]
    print_answer(answer, streamed=live)
    return 0


def print_answer(answer, streamed: bool = False) -> None:
    out = console()
    if streamed:  # what was streamed is the answer already (only checked sentences are streamed)
        out.print()
    else:
        out.print(("[bold yellow]" if answer.refused else "[bold]") + escape(answer.answer))
    for note in answer.notes:
        out.print(f"[dim]note: {escape(note)}")
    for suggestion in answer.suggestions:  # offered with a refusal
        out.print(f"[dim]try: {escape(suggestion)}")
    if not answer.citations:
        return
    out.print("\n[bold]Sources")
    for c in answer.citations:
        where = f"{Path(c.file).name if c.file else c.episode_id}:{c.line_start}-{c.line_end}"
        pos = f", transcript char {c.transcript_position}" if c.transcript_position is not None else ""
        out.print(f"[{c.marker}] {c.id}  ({where}{pos})")
        out.print(f"    [dim]{escape(c.text[:400])}")


def cmd_eval(args, settings) -> int:
    from eval.compare import compare_with_saved
    from eval.questions import QuestionFileError
    from eval.report import print_summary, write_report, write_summary_json
    from eval.runner import RETRIEVERS, EvalError, run_eval
    from eval.saved import load_saved

    names = RETRIEVERS if args.retriever == "all" else (args.retriever,)
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    try:
        saved = load_saved(args.against) if args.against else None  # before the run: fail fast
        result = run_eval(
            settings,
            args.questions,
            names,
            args.k,
            args.answerer,
            progress=not args.json_file and sys.stderr.isatty(),
            split=args.split,
            limit=args.limit,
            overrides=args.overrides,
            stat_test=args.stat_test,
        )
        if saved:
            result["comparison"] = compare_with_saved(result, saved, args.stat_test)
    except (QuestionFileError, EvalError) as e:
        raise UserError(str(e)) from None
    if args.json_file:
        write_summary_json(result, Path(args.json_file))
    if args.report:
        write_report(result, Path(args.report))
    print_summary(result, calibration=args.calibrate)
    return 0


def cmd_serve(args, settings) -> int:
    from ui.server import serve

    return serve(settings, host=args.host, port=args.port, root_path=args.root_path)


def cmd_mcp(args, settings) -> int:
    from ui.mcp_server import run_stdio

    return run_stdio(make_assistant(settings), settings)
