"""Handlers of the CLI commands: each takes the parsed args and the Settings, prints, and returns
the exit status."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vectorstore.chunks import SECTIONS
from vectorstore.ingest import ingest
from vectorstore.store import EpisodeStore, StoreError, counts_from_manifest


class UserError(Exception):
    """A problem the user can fix (bad option, unreachable store); printed without a traceback."""


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
    results = ingest(paths, store, rebuild=args.rebuild, prune=args.prune,
                     progress=not (args.no_progress or args.json) and sys.stderr.isatty())
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
            table.add_row(r.id or "-", Path(r.file).name if r.file else "-", r.status, *(str(r.chunks[s]) for s in SECTIONS), style=style)
        console().print(table)
    return 1 if failed else 0


def cmd_list(args, settings) -> int:
    store = open_store(settings)
    rows = [{"id": m["episode_id"], "title": m.get("title"), "date": m.get("date"), "file": m.get("file"),
             "chunks": counts_from_manifest(m)} for m in store.episodes()]
    if args.json:
        print_json({"episodes": rows})
        return 0
    table = Table(title=f"{len(rows)} episode(s) in {settings.store_label}")
    for col in ("id", "title", "date", "file", *SECTIONS):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], r["title"] or "", r["date"] or "", r["file"] or "",
                      *(str(r["chunks"][s]) for s in SECTIONS))
    console().print(table)
    return 0
