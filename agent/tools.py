"""The agent's tools, bound to one principal: search, open a passage, list sources, freshness.

A :class:`Toolbox` is made per question for the asking principal; it builds the
:class:`index.types.SearchFilter` once and every tool passes it to the engines. There is no
tool, and no argument of a tool, that reads without that filter. The API's citation endpoints
use the same toolbox, so what a user can inspect is exactly what the agent could have cited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from agent.documents import DocumentText, stitch_document
from agent.evidence import ChunkReader, Searcher, SourceCatalog
from core.acl import Principal
from core.models import Chunk
from index.types import SearchFilter
from retrieval.freshness import FreshnessPolicy, aware, now
from retrieval.results import Passage, RetrievedChunk, SearchResponse
from retrieval.shaping import merge_passages


class FailureView(BaseModel):
    model_config = ConfigDict(frozen=True)

    locator: str
    reason: str
    failed_at: datetime | None = None


class SourceView(BaseModel):
    """One source as the asking principal may see it: counts are of documents *they* may read."""

    model_config = ConfigDict(frozen=True)

    source_id: str
    kind: str
    last_indexed_at: datetime | None
    documents: int
    stale_documents: int
    newest_update: datetime | None
    max_age_days: float
    stale: bool
    failures: tuple[FailureView, ...] = ()


class FreshnessReport(BaseModel):
    """How old one cited document is against its source's limit, checked now."""

    model_config = ConfigDict(frozen=True)

    document_id: str
    title: str
    source_id: str
    updated_at: datetime
    age_days: float
    max_age_days: float
    stale: bool


class OpenedPassage(BaseModel):
    """The neighbourhood of one chunk: passages over its document's text around it."""

    model_config = ConfigDict(frozen=True)

    chunk_id: str
    document_id: str
    passages: tuple[Passage, ...]


class Toolbox:
    """The tools one question may use, all restricted to what ``principal`` may read."""

    def __init__(
        self,
        principal: Principal,
        *,
        searcher: Searcher,
        chunks: ChunkReader,
        sources: SourceCatalog,
        freshness: FreshnessPolicy,
        top_k: int,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.principal = principal
        self.filter = SearchFilter.for_principal(principal)
        self._searcher = searcher
        self._chunks = chunks
        self._sources = sources
        self._freshness = freshness
        self._top_k = top_k
        self._clock = clock

    # ------------------------------------------------------------------ search

    def search(
        self, query: str, *, top_k: int | None = None, query_vector: npt.NDArray[np.float32] | None = None
    ) -> SearchResponse:
        """Hybrid search as the principal (stale flags as of now)."""
        return self._searcher.search(
            query, self.filter, top_k=top_k or self._top_k, as_of=self._clock(), query_vector=query_vector
        )

    # ------------------------------------------------------------------ reading

    def chunk(self, chunk_id: str) -> Chunk | None:
        """One chunk the principal may read, else ``None`` (missing and forbidden alike)."""
        found = self._chunks.fetch_chunks(self.filter, chunk_ids=[chunk_id])
        return found[0] if found else None

    def document(self, document_id: str) -> DocumentText | None:
        """A document's text from the chunks the principal may read, else ``None``."""
        return stitch_document(self._chunks.fetch_chunks(self.filter, document_id=document_id))

    def chunk_in_document(self, chunk_id: str) -> tuple[DocumentText, Chunk] | None:
        """The chunk and its document's text; ``None`` when the chunk is missing or forbidden.

        Two filtered reads whatever the outcome (the second with an id that matches nothing
        when the first found nothing), so a forbidden chunk costs what a missing one costs.
        """
        chunk = self.chunk(chunk_id)
        doc = self.document(chunk.document_id if chunk else "00000000-0000-0000-0000-000000000000")
        if chunk is None or doc is None:
            return None
        return doc, chunk

    def open_passage(self, chunk_id: str, *, window_chars: int) -> OpenedPassage | None:
        """Passages of the chunk's document within ``window_chars`` of it (neighbour context)."""
        found = self.chunk_in_document(chunk_id)
        if found is None:
            return None
        doc, target = found
        lo, hi = target.span.start - window_chars, target.span.end + window_chars
        near = [c for c in doc.chunks if c.span.end > lo and c.span.start < hi]
        as_of = self._clock()
        ranked = [
            RetrievedChunk(
                chunk=c,
                score=0.0,
                rank=i,
                stages={},
                stale=self._freshness.is_stale(c.source_id, c.updated_at, as_of),
            )
            for i, c in enumerate(near, start=1)
        ]
        return OpenedPassage(
            chunk_id=chunk_id, document_id=doc.document_id, passages=tuple(merge_passages(ranked))
        )

    # ------------------------------------------------------------------ sources and freshness

    def list_sources(self) -> list[SourceView]:
        """Every source with at least one document the principal may read, with freshness.

        Counts, dates and failures are computed over readable documents only; a source of
        which the principal may read nothing is not listed (its size is nobody's business).
        """
        as_of = self._clock()
        views: list[SourceView] = []
        for record in self._sources.source_records():
            readable = [d for d in record.documents if self.principal.may_read(d.acl)]
            failures = tuple(
                FailureView(locator=f.locator, reason=f.reason, failed_at=f.failed_at)
                for f in record.failures
                if f.acl and self.principal.may_read(f.acl)
            )
            if not readable and not failures:
                continue
            limit = self._freshness.limit(record.source_id)
            stale = sum(self._freshness.is_stale(record.source_id, d.updated_at, as_of) for d in readable)
            views.append(
                SourceView(
                    source_id=record.source_id,
                    kind=record.kind,
                    last_indexed_at=record.last_indexed_at,
                    documents=len(readable),
                    stale_documents=stale,
                    newest_update=max((aware(d.updated_at) for d in readable), default=None),
                    max_age_days=limit / timedelta(days=1),
                    stale=stale > 0,
                    failures=failures,
                )
            )
        return views

    def check_freshness(self, chunk_ids: Sequence[str]) -> list[FreshnessReport]:
        """Freshness, checked now, of the documents behind cited chunks the principal may read."""
        if not chunk_ids:
            return []
        as_of = self._clock()
        reports: dict[str, FreshnessReport] = {}
        for c in self._chunks.fetch_chunks(self.filter, chunk_ids=list(dict.fromkeys(chunk_ids))):
            if c.document_id in reports:
                continue
            limit = self._freshness.limit(c.source_id)
            age = aware(as_of) - aware(c.updated_at)
            reports[c.document_id] = FreshnessReport(
                document_id=c.document_id,
                title=c.title,
                source_id=c.source_id,
                updated_at=c.updated_at,
                age_days=age / timedelta(days=1),
                max_age_days=limit / timedelta(days=1),
                stale=self._freshness.is_stale(c.source_id, c.updated_at, as_of),
            )
        return list(reports.values())
