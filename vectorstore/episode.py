"""Episode analysis files -> validated, repaired, typed records that know their source lines.

    >>> from vectorstore.episode import load_episode
    >>> ep = load_episode("data/episodes/000_e8dde77376fc3016.txt")
    >>> ep.title
    'Is RL + LLMs enough for AGI? — Sholto Douglas & Trenton Bricken'
    >>> len(ep.quotes), ep.quotes[16].line_start > 0
    (232, True)

Every problem with a file is raised as one ``EpisodeError`` whose message names the file, the
line where YAML or the validator knows it, and what is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Any

import ftfy
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .config import default
from .summary import SummarySection, split_summary


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml is ~10x faster; both loaders keep node marks, which give us line numbers.

    An impossible date (``2025-02-30``) makes PyYAML raise a bare ValueError without a line;
    here it becomes a ConstructorError that names the line."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid date/time {node.value!r} ({e})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
# Straight quotes stay as written: the cited text must match the file.
_FTFY = ftfy.TextFixerConfig(uncurl_quotes=False)


class EpisodeError(ValueError):
    """A file that cannot be used as an episode. ``str(err)`` is the one-line message."""

    def __init__(self, file: str | Path, message: str, line: int | None = None):
        message = " ".join(message.split())  # one line, whatever the parser's message looked like
        self.file, self.line, self.reason = str(file), line, message
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {message}")


def repair(text: str) -> str:
    """Fix mojibake (``â€”`` -> ``—``) with ftfy, leaving straight quotes alone."""
    return ftfy.fix_text(text, _FTFY)


def _text(v: Any) -> Any:
    """Repaired text; a ``!!binary`` value would be cited as text that is not in the file."""
    if isinstance(v, (bytes, bytearray)):
        raise ValueError("binary data (!!binary) where text is expected")
    return repair(v) if isinstance(v, str) else v


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    index: int = 0
    line_start: int = 0
    line_end: int = 0

    @field_validator("*", mode="before")
    @classmethod
    def _repair_strings(cls, v: Any) -> Any:
        return _text(v)


class Quote(_Item):
    """Both shapes: {text, length, relevance_score, topics[]} and
    {text, impact_reason, relevance_score, source, topic}."""

    text: str = Field(min_length=1)
    relevance_score: float | None = None
    topic: str | None = None
    topics: list[str] = []
    impact_reason: str | None = None
    source: str | None = None

    @property
    def topic_label(self) -> str | None:
        return self.topic or (", ".join(self.topics) if self.topics else None)


class Entity(_Item):
    """Both shapes: with ``position`` (offset into the transcript, ``context`` a window of it) or
    ``source: llm_enhanced`` (``context`` a description)."""

    name: str = Field(min_length=1)
    category: str | None = None
    confidence: str | None = None
    context: str = ""
    position: int | None = Field(None, ge=0)
    source: str | None = None


class Insight(_Item):
    text: str = Field(min_length=1)
    type: str | None = None
    confidence: str | None = None


class Topic(_Item):
    topic: str
    keywords: list[str] = []
    mentions: int | None = None
    prominence: float | None = None


class _Front(BaseModel):
    """The front matter as the validator sees it (required keys have no default)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    date: str | None = None
    duration: float | None = Field(None, ge=0)
    original_url: str | None = None
    quotes: list[Quote] = []
    companies: list[Entity] = []
    insights: list[Insight] = []
    topics: list[Topic] = []
    tags: list[str] = []

    @field_validator("date", mode="before")
    @classmethod
    def _date_as_text(cls, v: Any) -> Any:
        return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v

    @field_validator("title", "summary", "original_url", mode="before")
    @classmethod
    def _repair(cls, v: Any) -> Any:
        return _text(v)

    @field_validator("quotes", "companies", "insights", "topics", "tags", mode="before")
    @classmethod
    def _null_list(cls, v: Any) -> Any:
        return [] if v is None else v


# the front matter's lists of items, whose items learn their file lines
LIST_KEYS = tuple(
    name
    for name, f in _Front.model_fields.items()
    if getattr(f.annotation, "__origin__", None) is list and issubclass(f.annotation.__args__[0], _Item)
)


class Episode(BaseModel):
    """One validated episode. Line numbers are 1-based lines of ``file``."""

    id: str
    file: str
    content_hash: str
    title: str
    date: str | None
    duration: float | None
    original_url: str | None
    tags: list[str]
    topics: list[Topic]
    quotes: list[Quote]
    companies: list[Entity]
    insights: list[Insight]
    summary: list[SummarySection]
    title_line: int
    front_matter_end: int
    id_line: int | None = None  # where an ``id:`` key gives the id (None: taken from the file name)


_ID_FROM_NAME = re.compile(r"^\d+_([0-9a-f]{8,})$")
# an id is the first part of every citation id ({episode_id}/{section}/{index}): no '/' or spaces
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def episode_id_for(path: Path) -> str:
    """Stable id from the file name: ``000_e8dde77376fc3016.txt`` -> ``e8dde77376fc3016``;
    any other name -> its stem, lower-cased, with unsafe characters replaced."""
    stem = path.stem
    m = _ID_FROM_NAME.match(stem)
    if m:
        return m.group(1)
    return re.sub(r"[^a-z0-9_.-]+", "-", stem.lower()).strip("-") or "episode"


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words: ``file_kind(os.stat("/dev/null").st_mode)`` -> 'character device'."""
    for test, kind in (
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return kind
    return "regular file" if stat.S_ISREG(mode) else "special file"


def _not_regular(path: Path, mode: int) -> EpisodeError:
    return EpisodeError(path, f"not a regular file (a {file_kind(mode)}): episode files must be regular files")


def read_episode_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's bytes; ``max_bytes`` defaults to the ``max_file_bytes`` setting and bounds the
    bytes read, not only the size the file system reports (``/proc`` files report 0). A FIFO or
    a device is refused before it is read (reading a FIFO blocks; a device never ends)."""
    max_bytes = default("max_file_bytes") if max_bytes is None else max_bytes
    too_large = f"file is too large (over {max_bytes:,} bytes, the limit)"
    try:
        if not stat.S_ISREG(mode := os.stat(path).st_mode):
            raise _not_regular(path, mode)
        # O_NONBLOCK: should the path have become a FIFO since the stat, opening it must not block
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _not_regular(path, info.st_mode)
            if info.st_size > max_bytes:
                raise EpisodeError(path, f"file is too large ({info.st_size:,} bytes; the limit is {max_bytes:,})")
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise EpisodeError(path, too_large)
        return data
    except OSError as e:
        raise EpisodeError(path, f"cannot read file: {e.strerror or e}") from None


def load_episode(path: str | Path, data: bytes | None = None, max_bytes: int | None = None) -> Episode:
    """Read, parse, validate and repair one episode file."""
    path = Path(path)
    if data is None:
        data = read_episode_bytes(path, max_bytes)
    return parse_episode(path, data)


def _decode(path: Path, data: bytes) -> str:
    if not data.strip():
        raise EpisodeError(path, "file is empty")
    if b"\x00" in data:
        raise EpisodeError(
            path,
            "file is binary (contains NUL bytes), not an episode text file",
            data[: data.index(b"\x00")].count(b"\n") + 1,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise EpisodeError(
            path, f"not UTF-8 text (invalid byte 0x{data[e.start]:02x})", data[: e.start].count(b"\n") + 1
        ) from None


def _split_front_matter(path: Path, text: str) -> tuple[str, int]:
    """The YAML between the first two ``---`` lines, and the 1-based line of the closing one."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise EpisodeError(path, "no YAML front matter: the file must start with a '---' line", 1)
    for i, line in enumerate(lines[1:], start=2):
        if line.rstrip() == "---":
            return "\n".join(lines[1 : i - 1]) + "\n", i
    raise EpisodeError(path, "front matter is not closed: no second '---' line")


def _node_lines(node: yaml.Node) -> tuple[int, int]:
    """1-based file lines of a node (front matter starts on file line 2)."""
    start = node.start_mark.line + 2
    end_mark = node.end_mark
    end = end_mark.line + 2 - (1 if end_mark.column == 0 else 0)
    return start, max(start, end)


def _child(node: yaml.Node, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        # the last occurrence of a repeated key is the one the constructed dict holds
        for k, v in reversed(node.value):
            if k.value == key:
                return v
    elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None


def _shared_node(root: yaml.Node) -> yaml.Node | None:
    """A node reached twice: what an alias (``*name``) makes of its anchor's node."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return node
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def _refuse_aliases(path: Path, front: str, root: yaml.Node) -> None:
    """Aliases repeat content that is in the file once: 400 aliases of one long quote made a
    230 KB file a 388 MB store. Episode files are written out in full, so any alias is refused
    (the error names the line of the first one)."""
    if _shared_node(root) is None:
        return
    alias = next((e for e in yaml.parse(front, Loader=_Loader) if isinstance(e, yaml.AliasEvent)), None)
    line = alias.start_mark.line + 2 if alias is not None and alias.start_mark else None
    name = f" (*{alias.anchor})" if alias is not None else ""
    raise EpisodeError(path, f"YAML aliases{name} are not allowed in episode files: write the value out", line)


def _line_of(root: yaml.Node, loc: tuple) -> int | None:
    node, line = root, None
    for key in loc:
        node = _child(node, key)
        if node is None:
            break
        line = _node_lines(node)[0]
    return line


def parse_episode(path: Path, data: bytes) -> Episode:
    text = _decode(path, data)
    front, fm_end = _split_front_matter(path, text)
    try:
        loader = _Loader(front)
        try:
            root = loader.get_single_node()
            if root is not None:
                _refuse_aliases(path, front, root)
            raw = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except EpisodeError:
        raise
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 2 if mark else None
        raise EpisodeError(path, f"invalid YAML: {e.problem or e.context}", line) from None
    except yaml.reader.ReaderError as e:
        line = front[: e.position].count("\n") + 2 if isinstance(e.position, int) else None
        what = f"character #x{e.character:04x}" if isinstance(e.character, int) else "character"
        raise EpisodeError(path, f"invalid YAML: unacceptable {what}: {e.reason}", line) from None
    except yaml.YAMLError as e:
        raise EpisodeError(path, f"invalid YAML: {e}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as e:  # a constructor's own error
        raise EpisodeError(path, f"invalid YAML value: {e}") from None
    if not isinstance(raw, dict):
        raise EpisodeError(path, "front matter must be a YAML mapping of keys to values", 2)
    try:
        fm = _Front.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc)
        what = "missing required key" if err["type"] == "missing" else err["msg"].lower()
        extra = f" (and {e.error_count() - 1} more problems)" if e.error_count() > 1 else ""
        raise EpisodeError(path, f"{field}: {what}{extra}", _line_of(root, loc)) from None

    episode_id = raw.get("id")
    if episode_id is None or episode_id == "":
        episode_id = episode_id_for(path)
    elif isinstance(episode_id, bool) or not isinstance(episode_id, (str, int)) or not _SAFE_ID.match(str(episode_id)):
        raise EpisodeError(
            path,
            f"id: {str(episode_id)[:60]!r} is not usable as an episode id "
            "(letters, digits, '_', '.', '-'; at most 128)",
            _line_of(root, ("id",)),
        )

    for section in LIST_KEYS:
        seq = _child(root, section)
        for i, item in enumerate(getattr(fm, section)):
            item.index = i
            item.line_start, item.line_end = _node_lines(seq.value[i])

    summary_node = _child(root, "summary")
    # only the summary's lines are searched (for its headings): repair just those, ftfy is slow
    lines = text.splitlines()
    first, last = _node_lines(summary_node)
    lines[first - 1 : last] = [repair(line) for line in lines[first - 1 : last]]
    title_node = _child(root, "title")
    return Episode(
        id=str(episode_id),
        file=str(path),
        content_hash=file_hash(data),
        title=fm.title.strip(),
        date=fm.date,
        duration=fm.duration,
        original_url=fm.original_url,
        tags=fm.tags,
        topics=fm.topics,
        quotes=fm.quotes,
        companies=fm.companies,
        insights=fm.insights,
        summary=split_summary(fm.summary, lines, _node_lines(summary_node)),
        title_line=_node_lines(title_node)[0],
        front_matter_end=fm_end,
        id_line=_line_of(root, ("id",)) if raw.get("id") not in (None, "") else None,
    )
