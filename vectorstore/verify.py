"""Is a citation's text really in the episode file, at the lines it claims?

YAML folds long scalars over several lines and single-quoted scalars double their quotes, so the
comparison collapses whitespace and undoes ``''``; the file's lines are repaired with the same
ftfy settings as the loader. Nothing else is forgiven.

    >>> lines = ["text: the biggest thing that's changed is RL", "  and language models"]
    >>> is_verbatim(lines, "the biggest thing that's changed is RL and language models", 1, 2)
    True
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .episode import repair

_WS = re.compile(r"\s+")


def _flat(text: str) -> str:
    return _WS.sub(" ", text).strip()


def is_verbatim(file_lines: list[str], text: str, line_start: int, line_end: int) -> bool:
    if not text.strip() or line_start < 1 or line_end < line_start or line_end > len(file_lines):
        return False
    window = _flat(repair("\n".join(file_lines[line_start - 1 : line_end])))
    needle = _flat(text)
    if needle in window or needle in window.replace("''", "'"):
        return True
    # markdown inside a YAML scalar: a blank line in the file is a paragraph break in the text
    return _flat(needle.replace("\n", " ")) in window.replace("''", "'")


def is_overview_valid(file_lines: list[str], text: str) -> bool:
    """The overview chunk is composed from several keys: each value must appear in the file."""
    body = _flat(repair("\n".join(file_lines)))
    for line in text.splitlines():
        _, _, value = line.partition(": ")
        parts = [p.strip() for p in value.split(",")] if line.startswith(("Tags", "Topics")) else [value]
        if not all(p.replace(" minutes", "").removesuffix(".0") in body for p in parts if p):
            return False
    return True


@lru_cache(maxsize=64)
def _file_lines(path: str, mtime: float) -> tuple[str, ...]:
    return tuple(Path(path).read_text(encoding="utf-8-sig").splitlines())


def citation_is_valid(file: str, section: str, text: str, line_start: int, line_end: int) -> bool:
    """True when the cited text is verbatim in ``file`` within ``line_start..line_end``."""
    p = Path(file)
    if not p.is_file():
        return False
    lines = list(_file_lines(str(p), p.stat().st_mtime))
    if section == "overview":
        return is_overview_valid(lines, text)
    return is_verbatim(lines, text, line_start, line_end)
