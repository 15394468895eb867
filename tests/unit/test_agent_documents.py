"""A document's text rebuilt from chunk spans: offsets intact, overlaps agreed, gaps reported."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.documents import stitch_document
from core.models import Chunk, ChunkSpan, Document

TEXT = "# Title\n\nFirst paragraph here.\n\n\n\n\n\n\n\nSecond paragraph, after a long gap. Third sentence."


def _doc() -> Document:
    return Document.create(
        source_id="s",
        locator="a.md",
        title="A",
        uri="file:///a.md",
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        acl=("public",),
        text=TEXT,
    )


def _chunks(*spans: tuple[int, int]) -> list[Chunk]:
    doc = _doc()
    return [Chunk.from_document(doc, s, e, ordinal=i) for i, (s, e) in enumerate(spans)]


def test_stitching_restores_offsets_with_overlaps_and_gaps() -> None:
    second = TEXT.index("Second")
    chunks = _chunks((0, 30), (9, 30), (second, len(TEXT)))  # overlap, then a long gap
    doc = stitch_document(list(reversed(chunks)))
    assert doc is not None
    assert len(doc.text) == len(TEXT)
    for c in chunks:
        assert doc.text[c.span.start : c.span.end] == c.text
    assert doc.gaps == (ChunkSpan(start=30, end=second),)


def test_short_gaps_are_blank_lines_not_gaps() -> None:
    chunks = _chunks((0, 7), (9, 30))
    doc = stitch_document(chunks)
    assert doc is not None
    assert doc.text == TEXT[:30]
    assert doc.gaps == ()


def test_window_widens_to_word_boundaries() -> None:
    doc = stitch_document(_chunks((0, len(TEXT))))
    assert doc is not None
    start = TEXT.index("paragraph here")
    span = ChunkSpan(start=start, end=start + len("paragraph here"))
    window, before, text, after = doc.window(span, 4)
    assert text == "paragraph here"
    assert before + text + after == doc.text[window.start : window.end]
    assert before == "First "


def test_no_chunks_is_no_document() -> None:
    assert stitch_document([]) is None


def test_chunks_of_two_documents_are_refused() -> None:
    other = Document.create(
        source_id="s",
        locator="b.md",
        title="B",
        uri="u",
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        acl=("public",),
        text="Other text.",
    )
    with pytest.raises(ValueError, match="several documents"):
        stitch_document([*_chunks((0, 7)), Chunk.from_document(other, 0, 5, ordinal=0)])
