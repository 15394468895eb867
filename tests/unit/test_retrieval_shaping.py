"""Result shaping: the per-document cap and passages stitched with exact spans."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.models import Chunk, Document
from retrieval.results import RetrievedChunk, Stage, StageScore
from retrieval.shaping import cap_per_document, merge_passages, stitch

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
TEXT = "First sentence here. Second sentence follows. Third one is last. Fourth closes it."


def _doc(locator: str, text: str = TEXT) -> Document:
    return Document.create(
        source_id="docs",
        locator=locator,
        title=locator.upper(),
        uri=f"file://{locator}",
        updated_at=WHEN,
        acl=["public"],
        text=text,
    )


def _hit(doc: Document, start: int, end: int, rank: int, ordinal: int = 0) -> RetrievedChunk:
    chunk = Chunk.from_document(doc, start, end, ordinal=ordinal)
    return RetrievedChunk(
        chunk=chunk,
        score=1.0 / rank,
        rank=rank,
        stages={Stage.FUSED: StageScore(score=1.0 / rank, rank=rank)},
        stale=False,
    )


def test_cap_keeps_the_best_chunks_of_each_document() -> None:
    a, b = _doc("a"), _doc("b")
    results = [_hit(a, 0, 20, 1), _hit(a, 21, 45, 2), _hit(b, 0, 20, 3), _hit(a, 46, 64, 4)]
    kept = cap_per_document(results, 2)
    assert [(r.chunk.document_id, r.rank) for r in kept] == [(a.id, 1), (a.id, 2), (b.id, 3)]
    with pytest.raises(ValueError, match="cap"):
        cap_per_document(results, 0)


def test_overlapping_and_touching_chunks_merge_into_the_document_text() -> None:
    doc = _doc("a")
    # chunk 1 [0, 45), chunk 2 overlaps it [21, 64), chunk 3 touches chunk 2 [64, len)
    results = [_hit(doc, 21, 64, 1, 1), _hit(doc, 0, 45, 2, 0), _hit(doc, 64, len(TEXT), 3, 2)]
    [passage] = merge_passages(results)
    assert passage.span.start == 0
    assert passage.span.end == len(TEXT)
    assert passage.text == doc.text[passage.span.start : passage.span.end]
    assert passage.rank == 1
    assert passage.score == 1.0
    assert len(passage.chunk_ids) == 3 == len(passage.chunk_spans)


def test_a_gap_keeps_passages_apart_and_ranks_follow_best_chunk() -> None:
    a, b = _doc("a"), _doc("b")
    results = [_hit(b, 0, 20, 1), _hit(a, 46, 64, 2, 2), _hit(a, 0, 20, 3, 0)]
    passages = merge_passages(results)
    assert [(p.document_id, p.span.start, p.rank) for p in passages] == [
        (b.id, 0, 1),
        (a.id, 46, 2),
        (a.id, 0, 3),
    ]
    for p in passages:
        source = a if p.document_id == a.id else b
        assert p.text == source.text[p.span.start : p.span.end]


def test_stitch_refuses_a_gap() -> None:
    doc = _doc("a")
    c1 = Chunk.from_document(doc, 0, 10, ordinal=0)
    c2 = Chunk.from_document(doc, 12, 20, ordinal=1)
    with pytest.raises(ValueError, match="do not touch"):
        stitch(c1.text, c1.span, c2.text, c2.span)
