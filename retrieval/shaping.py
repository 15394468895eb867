"""Result shaping: a per-document cap, then adjacent chunks merged into passages.

Why a cap: without it one long document whose chunks all match fills the top-k and hides
every other source. Why passages: two neighbouring chunks of one document are one piece of
evidence; merged, the reader (and the grounding step) sees contiguous text with one span.

Chunks may overlap (the chunker repeats whole sentences as context) or touch; both count as
adjacent. A merged passage's text is stitched at the chunks' document offsets, so it equals
the document's text over the passage span exactly; a gap between two chunks (a chunk that
was not retrieved, or was capped) keeps them as separate passages.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.models import ChunkSpan
from retrieval.results import Passage, RetrievedChunk


def cap_per_document(results: Sequence[RetrievedChunk], cap: int) -> list[RetrievedChunk]:
    """Keep at most ``cap`` chunks of each document, in order (the best ones survive)."""
    if cap < 1:
        raise ValueError(f"per-document cap must be >= 1, got {cap}")
    seen: dict[str, int] = {}
    kept: list[RetrievedChunk] = []
    for r in results:
        n = seen.get(r.chunk.document_id, 0)
        if n < cap:
            seen[r.chunk.document_id] = n + 1
            kept.append(r)
    return kept


def stitch(first_text: str, first: ChunkSpan, second_text: str, second: ChunkSpan) -> str:
    """Text of ``first`` followed by the part of ``second`` beyond it (spans must touch)."""
    if second.start > first.end:
        raise ValueError(f"spans {first} and {second} do not touch: nothing to stitch")
    if second.end <= first.end:
        return first_text
    return first_text + second_text[first.end - second.start :]


def merge_passages(results: Sequence[RetrievedChunk]) -> list[Passage]:
    """Merge touching/overlapping chunks of each document into passages, ranked by best chunk.

    ``results`` are in final rank order; each passage takes the best (first) rank among its
    chunks, and passages are numbered in that order.
    """
    by_doc: dict[str, list[RetrievedChunk]] = {}
    for r in results:
        by_doc.setdefault(r.chunk.document_id, []).append(r)
    groups: list[list[RetrievedChunk]] = []
    for chunks in by_doc.values():
        ordered = sorted(chunks, key=lambda r: (r.chunk.span.start, r.chunk.span.end))
        current = [ordered[0]]
        reach = ordered[0].chunk.span.end
        for r in ordered[1:]:
            if r.chunk.span.start <= reach:
                current.append(r)
                reach = max(reach, r.chunk.span.end)
            else:
                groups.append(current)
                current, reach = [r], r.chunk.span.end
        groups.append(current)
    groups.sort(key=lambda g: min(r.rank for r in g))
    return [_passage(g, rank) for rank, g in enumerate(groups, start=1)]


def _passage(group: list[RetrievedChunk], rank: int) -> Passage:
    first = group[0].chunk
    text, span = first.text, first.span
    for r in group[1:]:
        text = stitch(text, span, r.chunk.text, r.chunk.span)
        span = ChunkSpan(start=span.start, end=max(span.end, r.chunk.span.end))
    if len(text) != span.end - span.start:
        raise AssertionError(
            f"passage of document {first.document_id}: stitched {len(text)} chars for span {span}; "
            "chunk texts disagree with their spans"
        )
    best = min(group, key=lambda r: r.rank)
    return Passage(
        document_id=first.document_id,
        source_id=first.source_id,
        chunk_ids=tuple(r.chunk.id for r in group),
        chunk_spans=tuple(r.chunk.span for r in group),
        title=first.title,
        uri=first.uri,
        text=text,
        span=span,
        score=best.score,
        rank=rank,
        updated_at=max(r.chunk.updated_at for r in group),
        stale=any(r.stale for r in group),
    )
