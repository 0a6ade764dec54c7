"""Loading episode files: both item shapes, mojibake repair, line ranges, clear errors."""

from pathlib import Path

import pytest

from vectorstore.episode import EpisodeError, episode_id_for, load_episode

from conftest import EPISODE, EPISODE_ID


@pytest.fixture(scope="module")
def episode():
    return load_episode(EPISODE)


def test_counts_and_repaired_title(episode):
    assert episode.id == EPISODE_ID
    assert episode.title == "Is RL + LLMs enough for AGI? — Sholto Douglas & Trenton Bricken"
    assert (len(episode.quotes), len(episode.companies), len(episode.insights)) == (232, 103, 1)
    assert episode.duration == 144 and episode.date.startswith("2025-05-22")
    assert episode.original_url.startswith("https://")
    assert "artificial-intelligence" in episode.tags
    assert [t.topic for t in episode.topics][:2] == ["artificial intelligence", "ai infrastructure"]


def test_no_mojibake_left(episode):
    texts = (
        [q.text for q in episode.quotes] + [c.context for c in episode.companies] + [s.text for s in episode.summary]
    )
    assert not [t for t in texts if "â€" in t or "Ã" in t]
    assert "Brickin—wait" in episode.companies[0].context


def test_both_quote_shapes(episode):
    short = episode.quotes[5]
    assert short.relevance_score == 3 and short.topics == [] and short.impact_reason is None
    rich = episode.quotes[16]
    assert rich.relevance_score == 10 and rich.topic == "AI Breakthroughs/RL" and rich.impact_reason


def test_both_entity_shapes(episode):
    positioned = [e for e in episode.companies if e.position is not None]
    described = [e for e in episode.companies if e.source == "llm_enhanced"]
    assert len(positioned) == 50 and len(described) == 53
    assert episode.companies[3].name == "Anthropic" and episode.companies[3].position == 242


def test_summary_sections(episode):
    headings = [s.heading for s in episode.summary]
    assert headings[1:] == [
        "1. Focus Area",
        "2. Key Technical Insights",
        "3. Business/Investment Angle",
        "4. Notable Companies/People",
        "5. Future Implications",
        "6. Target Audience",
    ]
    assert headings[0].startswith("Podcast Summary: Is RL + LLMs Enough for AGI? —")
    starts = [s.line_start for s in episode.summary]
    assert starts == sorted(starts) and all(s.line_start <= s.line_end for s in episode.summary)


def test_line_ranges_point_at_the_items(episode):
    lines = EPISODE.read_text(encoding="utf-8").splitlines()
    q = episode.quotes[16]
    block = " ".join(lines[q.line_start - 1 : q.line_end])
    assert "impact_reason" in lines[q.line_start - 1] and "finally worked" in block
    e = episode.companies[3]
    assert "Anthropic" in " ".join(lines[e.line_start - 1 : e.line_end])
    assert lines[episode.title_line - 1].startswith("title:")


def test_episode_id_from_file_name():
    assert episode_id_for(Path("000_e8dde77376fc3016.txt")) == "e8dde77376fc3016"
    assert episode_id_for(Path("My Episode.txt")) == "my-episode"


GOOD_HEAD = "---\ntitle: T\nsummary: '## S'\n"

BAD_FILES = {
    "broken_yaml": (b"---\ntitle: [unclosed\nsummary: x\n---\n", "invalid YAML", True),
    "no_front_matter": (b"just some text\n", "no YAML front matter", True),
    "unclosed": (b"---\ntitle: x\n", "not closed", False),
    "wrong_type": (GOOD_HEAD.encode() + b"quotes:\n- text: [1, 2]\n---\n", "quotes.0.text", True),
    "missing_key": (b"---\ntitle: x\n---\n", "summary: missing required key", False),
    "not_utf8": (GOOD_HEAD.encode() + b"tags: [caf\xe9]\n---\n", "not UTF-8", True),
    "empty": (b"", "file is empty", False),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary", True),
    "not_mapping": (b"---\n- a\n- b\n---\n", "must be a YAML mapping", True),
    "bad_number": (
        GOOD_HEAD.encode() + b"quotes:\n- text: hi\n  relevance_score: lots\n---\n",
        "relevance_score",
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_give_one_clear_error(tmp_path, name):
    data, expected, has_line = BAD_FILES[name]
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    with pytest.raises(EpisodeError) as info:
        load_episode(path)
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message
    assert (info.value.line is not None) == has_line


def test_wrong_type_error_names_the_line(tmp_path):
    path = tmp_path / "e.txt"
    path.write_text(GOOD_HEAD + "quotes:\n- text: fine\n- text: {a: 1}\n---\n")
    with pytest.raises(EpisodeError) as info:
        load_episode(path)
    assert info.value.line == 6 and "quotes.1.text" in str(info.value)


def test_oversized_file_is_rejected(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"---\ntitle: x\nsummary: y\n---\n" + b"x" * 2000)
    with pytest.raises(EpisodeError, match="too large"):
        load_episode(path, max_bytes=1000)


def test_heading_marks_folded_from_the_line_before(tmp_path):
    """Found by fuzzing: a lone '#' line folds into the next line's text as a heading; the
    section must start at the '#' line or its text is not verbatim at its lines."""
    from vectorstore.verify import is_verbatim

    text = (
        "---\ntitle: T\nsummary: '## Podcast Summary: T\n\n\n  ### 1. Focus Area\n\n  Body one.\n\n#\n"
        "  labs spend vastly more compute on base model pre-training than on RL\n  fine-tuning.\n\n  '\n---\n"
    )
    path = tmp_path / "e.txt"
    path.write_text(text)
    sections = load_episode(path).summary
    assert [s.line_start for s in sections] == [3, 6, 10]
    assert all(is_verbatim(text.splitlines(), s.text, s.line_start, s.line_end) for s in sections)
