"""``episode-assistant`` command line.

The CLI is the composition root: it builds the one Settings object and hands it down. Commands
that belong to higher layers (``serve``, ``eval``) are imported only when invoked.
"""
from __future__ import annotations

import argparse
import sys

from vectorstore.config import load_settings

from . import commands


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="episode-assistant",
                                description="Answer questions about podcast episodes, with citations.")
    p.add_argument("--config", help="YAML config file (default: episode-assistant.yaml if present; env EPISODE_ASSISTANT_CONFIG)")
    p.add_argument("--db", help="Chroma folder for the embedded store (env EPISODE_ASSISTANT_DB; default .episode-assistant/db)")
    p.add_argument("--chroma-url", help="use a Chroma server instead, e.g. http://127.0.0.1:8000 (env EPISODE_ASSISTANT_CHROMA_URL)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ingest", help="index episode files or folders")
    s.add_argument("paths", nargs="*", help="files or folders (default: the episodes_dir setting, data/episodes)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("--prune", action="store_true", help="drop indexed episodes whose files are gone")
    s.add_argument("--rebuild", action="store_true", help="drop the whole index first")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=commands.cmd_ingest)

    s = sub.add_parser("list", help="show what is indexed")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=commands.cmd_list)

    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config, db=args.db, chroma_url=args.chroma_url)
    except (FileNotFoundError, ValueError) as e:
        print(f"episode-assistant: configuration error: {e}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args, settings) or 0)
    except commands.UserError as e:
        print(f"episode-assistant: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("episode-assistant: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
