"""``episode-assistant`` command line.

The CLI is the composition root: it builds the one Settings object and hands it down. The
commands of the heavier layers (``serve``, ``eval``) import them only when invoked, so ``list``
starts fast.
"""

from __future__ import annotations

import argparse
import sys

from assistant.answerers import ANSWERER_NAMES
from assistant.errors import QuestionError, UserError
from vectorstore.chunks import SECTIONS
from vectorstore.config import load_settings

from . import commands


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="episode-assistant", description="Answer questions about podcast episodes, with citations."
    )
    p.add_argument(
        "--config", help="YAML config file (default: episode-assistant.yaml if present; env EPISODE_ASSISTANT_CONFIG)"
    )
    p.add_argument(
        "--db", help="Chroma folder for the embedded store (env EPISODE_ASSISTANT_DB; default .episode-assistant/db)"
    )
    p.add_argument(
        "--chroma-url",
        help="use a Chroma server instead, e.g. http://127.0.0.1:8000 (env EPISODE_ASSISTANT_CHROMA_URL)",
    )
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

    s = sub.add_parser("retrieve", help="show the ranked chunks for a question")
    s.add_argument("question")
    s.add_argument("-k", type=int, default=10, help="how many hits (default 10)")
    s.add_argument("--episode", help="only this episode id")
    s.add_argument(
        "--section", action="append", dest="sections", choices=SECTIONS, help="only these sections (repeatable)"
    )
    s.add_argument("--min-relevance", type=float, help="only quotes with at least this relevance score")
    s.add_argument("--retriever", choices=("hybrid", "dense", "bm25"), default="hybrid")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=commands.cmd_retrieve)

    s = sub.add_parser("ask", help="answer a question with citations")
    s.add_argument("question")
    s.add_argument("--episode", help="only this episode id")
    s.add_argument(
        "--section", action="append", dest="sections", choices=SECTIONS, help="only these sections (repeatable)"
    )
    s.add_argument("--history", help="YAML/JSON file: a list of {user, assistant} turns before this question")
    s.add_argument("--answerer", choices=ANSWERER_NAMES, help="default: the answerer setting (auto)")
    s.add_argument("--json", action="store_true", help="print the answer object as JSON")
    s.set_defaults(func=commands.cmd_ask)

    s = sub.add_parser("eval", help="score retrieval and answers on a fixed question set")
    s.add_argument("--questions", help="question file (default: the bundled eval/questions.yaml)")
    s.add_argument("--retriever", choices=("hybrid", "dense", "bm25", "naive", "all"), default="hybrid")
    s.add_argument("-k", type=int, default=10, help="retrieval depth scored (default 10)")
    s.add_argument(
        "--answerer",
        choices=(*ANSWERER_NAMES, "all"),
        default="extractive",
        help="answerer whose answers are checked; all = extractive and llm side by side (default extractive)",
    )
    s.add_argument("--json", dest="json_file", metavar="FILE", help="write the metrics as JSON to FILE")
    s.add_argument(
        "--report",
        metavar="DIR",
        help="write report.md, report.json, metrics.png and the saved run (runs, qrels, answers) to DIR",
    )
    s.add_argument("--against", metavar="DIR", help="compare with the run saved in DIR by an earlier --report")
    s.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a setting for this run, e.g. --set rrf_k=30 (repeatable)",
    )
    s.add_argument(
        "--split",
        choices=("tune", "test", "all"),
        help="evaluate one half of the question set, or all of it as one set (default: all, both halves side by side)",
    )
    s.add_argument("--limit", type=int, metavar="N", help="only the first N questions (e.g. a quick llm check)")
    s.add_argument(
        "--stat-test",
        choices=("student", "fisher"),
        default="student",
        help="paired significance test: the paired t-test (default) or Fisher's randomization (slower)",
    )
    s.add_argument("--calibrate", action="store_true", help="also print the refusal-threshold calibration")
    s.set_defaults(func=commands.cmd_eval)

    s = sub.add_parser("serve", help="serve the chat UI and the JSON API")
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--root-path", default="", help="path prefix when served behind a reverse proxy, e.g. /assistant")
    s.set_defaults(func=commands.cmd_serve)

    s = sub.add_parser("mcp", help="serve the MCP tools over stdin/stdout (for an MCP client to launch)")
    s.set_defaults(func=commands.cmd_mcp)
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
    except (UserError, QuestionError) as e:  # a bad question is the user's to fix, like a bad flag
        print(f"episode-assistant: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("episode-assistant: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
