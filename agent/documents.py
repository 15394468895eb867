"""A document's text rebuilt from the chunks the asker may read, and windows around a span.

The index stores chunks, not documents; chunk spans cover the document's normalized text, so
stitching a document's chunks at their offsets gives back its text with offsets intact (the
same offsets citations use). What no chunk holds (whitespace the chunker trimmed between
blocks) is filled with as many filler characters, so every offset still points where it did,
and is reported as a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.models import Chunk, ChunkSpan

_SHORT_GAP = 4  # up to this many missing characters are almost surely blank lines


@dataclass(frozen=True)
class DocumentText:
    """The stitched text of one document, from offset ``0`` to the end of its last chunk."""

    document_id: str
    source_id: str
    title: str
    uri: str
    updated_at: datetime
    text: str
    chunks: tuple[Chunk, ...]
    gaps: tuple[ChunkSpan, ...]

    def chunk(self, chunk_id: str) -> Chunk | None:
        return next((c for c in self.chunks if c.id == chunk_id), None)

    def window(self, span: ChunkSpan, context_chars: int) -> tuple[ChunkSpan, str, str, str]:
        """(window span, text before, the span's text, text after), ``context_chars`` each side."""
        start = max(0, span.start - context_chars)
        end = min(len(self.text), span.end + context_chars)
        # widen to whole words so a window never starts or ends mid-word
        while start > 0 and not self.text[start - 1].isspace() and span.start - start < context_chars + 40:
            start -= 1
        while end < len(self.text) and not self.text[end].isspace() and end - span.end < context_chars + 40:
            end += 1
        return (
            ChunkSpan(start=start, end=end),
            self.text[start : span.start],
            self.text[span.start : span.end],
            self.text[span.end : end],
        )


def stitch_document(chunks: Sequence[Chunk]) -> DocumentText | None:
    """Rebuild one document's text from its chunks (``None`` when there are none).

    All chunks must belong to one document; overlapping chunks must agree on the overlap
    (they are slices of the same text), which is checked.
    """
    if not chunks:
        return None
    ordered = sorted(chunks, key=lambda c: (c.span.start, c.span.end, c.id))
    doc_ids = {c.document_id for c in ordered}
    if len(doc_ids) != 1:
        raise ValueError(f"chunks of several documents cannot be stitched into one: {sorted(doc_ids)}")
    parts: list[str] = []
    gaps: list[ChunkSpan] = []
    reach = 0
    for c in ordered:
        if len(c.text) != c.span.end - c.span.start:
            raise ValueError(f"chunk {c.id}: text length {len(c.text)} disagrees with its span {c.span}")
        if c.span.start > reach:
            missing = c.span.start - reach
            parts.append("\n" * missing if missing <= _SHORT_GAP else " " * missing)
            if missing > _SHORT_GAP:
                gaps.append(ChunkSpan(start=reach, end=c.span.start))
            reach = c.span.start
        if c.span.end > reach:
            overlap = reach - c.span.start
            parts.append(c.text[overlap:])
            reach = c.span.end
    first = ordered[0]
    newest = max(c.updated_at for c in ordered)
    return DocumentText(
        document_id=first.document_id,
        source_id=first.source_id,
        title=first.title,
        uri=first.uri,
        updated_at=newest,
        text="".join(parts),
        chunks=tuple(ordered),
        gaps=tuple(gaps),
    )
