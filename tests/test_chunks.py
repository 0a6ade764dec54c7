"""Chunks and their citation anchors."""

import pytest

from vectorstore.chunks import episode_chunks, section_counts
from vectorstore.episode import load_episode
from vectorstore.verify import citation_is_valid

from conftest import EPISODE, EPISODE_ID


@pytest.fixture(scope="module")
def chunks():
    return episode_chunks(load_episode(EPISODE))


def by_id(chunks, cid):
    return next(c for c in chunks if c.id == cid)


def test_one_chunk_per_item(chunks):
    assert section_counts(chunks) == {"quotes": 232, "companies": 103, "summary": 7, "insights": 1, "overview": 1}
    assert chunks[-1].section == "overview"
    assert len({c.id for c in chunks}) == len(chunks)


def test_ids_are_citation_ids_and_metadata(chunks):
    q = by_id(chunks, f"{EPISODE_ID}/quotes/16")
    md = q.metadata
    assert (md["episode_id"], md["section"], md["index"]) == (EPISODE_ID, "quotes", 16)
    assert md["relevance_score"] == 10.0 and md["topic"] == "AI Breakthroughs/RL"
    assert md["line_start"] <= md["line_end"]
    # the cited text is the verbatim quote; the impact reason only enriches what is embedded
    assert q.text.startswith("the biggest thing that's changed is RL") and "impact" not in q.text
    assert "verifiable rewards" in q.embed_text
    # Chroma metadata values must be scalars
    assert all(isinstance(v, (str, int, float, bool)) for c in chunks for v in c.metadata.values())


def test_entity_positions_and_inherited_quote_positions(chunks):
    assert by_id(chunks, f"{EPISODE_ID}/companies/3").metadata["transcript_position"] == 242
    anchored = [c for c in chunks if c.section == "quotes" and "transcript_position" in c.metadata]
    assert len(anchored) >= 13
    # quote 6 overlaps the context window of entity 20 ("Gradient", position 12790)
    assert by_id(chunks, f"{EPISODE_ID}/quotes/6").metadata["transcript_position"] == 12748
    # a quote that merely names an entity is not anchored by it
    assert "transcript_position" not in by_id(chunks, f"{EPISODE_ID}/quotes/3").metadata


def test_near_duplicate_quotes_share_a_group(chunks):
    g25 = by_id(chunks, f"{EPISODE_ID}/quotes/25").metadata.get("dup_group")
    assert g25 is not None and g25 == by_id(chunks, f"{EPISODE_ID}/quotes/26").metadata.get("dup_group")
    assert "dup_group" not in by_id(chunks, f"{EPISODE_ID}/quotes/17").metadata


def test_every_chunk_text_is_verbatim_at_its_lines(chunks):
    bad = [
        c.id
        for c in chunks
        if not citation_is_valid(str(EPISODE), c.section, c.text, c.metadata["line_start"], c.metadata["line_end"])
    ]
    assert bad == []


def test_verbatim_check_fails_on_wrong_lines_or_text(chunks):
    q = by_id(chunks, f"{EPISODE_ID}/quotes/16")
    start, end = q.metadata["line_start"], q.metadata["line_end"]
    assert not citation_is_valid(str(EPISODE), "quotes", q.text, start + 20, end + 20)
    assert not citation_is_valid(str(EPISODE), "quotes", q.text + " and more", start, end)
    assert not citation_is_valid(str(EPISODE), "overview", "Title: Another show", 1, 10)
