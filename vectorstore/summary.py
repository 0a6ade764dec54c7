r"""The markdown summary -> sections at its headings, each knowing its line range in the file.

YAML folds the summary scalar over many lines, so a section's lines are found by searching for its
heading among the (mojibake-repaired) lines of the scalar.

    >>> lines = ["summary: |", "  ## Intro", "  text", "  ## Details", "  more"]
    >>> summary = "## Intro\ntext\n## Details\nmore"
    >>> [(s.heading, s.line_start, s.line_end) for s in split_summary(summary, lines, (1, 5))]
    [('Intro', 2, 3), ('Details', 4, 5)]
"""

from __future__ import annotations

import re

from pydantic import BaseModel


class SummarySection(BaseModel):
    index: int = 0
    line_start: int = 0
    line_end: int = 0
    heading: str
    text: str  # heading line + body, as written


_HEADING = re.compile(r"^#{1,6}\s+(.*\S)\s*$")


_HASHES_ONLY = re.compile(r"^\s*(?:summary:\s*')?#{1,6}\s*$")


def _find_heading(heading: str, file_lines: list[str], first: int, last: int) -> int:
    """The file line of a summary heading. A folded YAML scalar can join a heading with the
    line after it (or wrap a long one), so shorter prefixes are tried on heading lines ('#')
    before the first 40 characters anywhere; ``first`` when nothing matches."""
    for probe, need_hash in ((heading[:40], False), (heading[:24], True), (heading[:12], True)):
        for n in range(first, last + 1):
            line = file_lines[n - 1]
            if probe in line and (not need_hash or "#" in line[: line.find(probe)]):
                # the '#' marks may stand alone on the line before, folded into this heading
                while n > first and _HASHES_ONLY.match(file_lines[n - 2]) and "#" not in line[: line.find(probe)]:
                    n -= 1
                    line = file_lines[n - 1]
                return n
    return first


def split_summary(summary: str, file_lines: list[str], span: tuple[int, int]) -> list[SummarySection]:
    """Split the markdown summary at its headings; each section learns its file line range by
    finding its heading among the (repaired) lines of the summary scalar."""
    sections: list[tuple[str, list[str]]] = []
    for line in summary.strip().splitlines():
        m = _HEADING.match(line.strip())
        if m or not sections:
            sections.append((m.group(1) if m else "Summary", []))
        sections[-1][1].append(line)
    first, last = span
    starts, cursor = [], first
    for heading, _ in sections:
        found = _find_heading(heading, file_lines, cursor, last)
        starts.append(found)
        cursor = found + 1 if found < last else found
    out = []
    for j, (heading, body) in enumerate(sections):
        end = starts[j + 1] - 1 if j + 1 < len(sections) else last
        while end > starts[j] and not file_lines[end - 1].strip():
            end -= 1  # trailing blank lines belong to no section
        out.append(
            SummarySection(
                index=j,
                heading=heading,
                text="\n".join(body).strip(),
                line_start=starts[j],
                line_end=max(starts[j], end),
            )
        )
    return out
