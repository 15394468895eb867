"""Inspect a citation: ``GET /v1/documents/{doc_id}`` and ``GET /v1/chunks/{chunk_id}``.

Both read only through the caller's ACL filter (inside the engine), so a document or chunk the
caller may not read is simply not found. A forbidden id and a missing id take the same code
path (the same filtered reads, see :meth:`agent.tools.Toolbox.chunk_in_document`) and end in
the same constant 404, so neither the body, the headers nor the timing class tells them apart.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool

from agent.documents import DocumentText
from api.deps import CurrentPrincipal, ServicesDep
from api.errors import not_found
from api.routes.ask import _ERRORS
from api.schemas import ChunkContextOut, DocumentOut, ErrorOut, SpanOut
from core.models import Chunk, ChunkSpan
from retrieval.freshness import now

router = APIRouter(prefix="/v1", tags=["citations"])

_MAX_ID = 200
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    404: {"model": ErrorOut, "description": "no such document or chunk among those you may read"},
}
_BLANK_ID = "00000000-0000-0000-0000-000000000000"

Offset = Annotated[int | None, Query(ge=0, le=100_000_000, description="mark this span (document offsets)")]


def _marked_span(start: int | None, end: int | None, inside: ChunkSpan) -> ChunkSpan:
    if start is None and end is None:
        return inside
    s = inside.start if start is None else start
    e = inside.end if end is None else end
    if not inside.start <= s <= e <= inside.end:
        raise HTTPException(
            status_code=422,
            detail=f"start and end must satisfy {inside.start} <= start <= end <= {inside.end} "
            "(the span of what is shown)",
        )
    return ChunkSpan(start=s, end=e)


@router.get(
    "/documents/{doc_id}",
    response_model=DocumentOut,
    summary="A document's text (from the chunks you may read), optionally with a span marked",
    responses=_NOT_FOUND,
)
async def get_document(
    doc_id: str, principal: CurrentPrincipal, services: ServicesDep, start: Offset = None, end: Offset = None
) -> DocumentOut:
    tools = services.agent.toolbox(principal)
    doc: DocumentText | None = await run_in_threadpool(tools.document, doc_id[:_MAX_ID] or _BLANK_ID)
    if doc is None:
        raise not_found()
    marked = None
    if start is not None or end is not None:
        whole = ChunkSpan(start=0, end=len(doc.text))
        marked = _marked_span(start, end, whole)
    stale = services.agent.freshness.is_stale(doc.source_id, doc.updated_at, now())
    return DocumentOut(
        document_id=doc.document_id,
        source_id=doc.source_id,
        title=doc.title,
        uri=doc.uri,
        updated_at=doc.updated_at,
        stale=stale,
        text=doc.text,
        gaps=[SpanOut(start=g.start, end=g.end) for g in doc.gaps],
        chunks=[SpanOut(start=c.span.start, end=c.span.end) for c in doc.chunks],
        chunk_ids=[c.id for c in doc.chunks],
        marked=SpanOut(start=marked.start, end=marked.end) if marked else None,
    )


@router.get(
    "/chunks/{chunk_id}",
    response_model=ChunkContextOut,
    summary="A chunk in the text around it, its span (or ?start=&end= inside it) marked",
    responses=_NOT_FOUND,
)
async def get_chunk(
    chunk_id: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    start: Offset = None,
    end: Offset = None,
    context: Annotated[int, Query(ge=0, le=20_000, description="characters shown each side")] = 400,
) -> ChunkContextOut:
    tools = services.agent.toolbox(principal)
    found: tuple[DocumentText, Chunk] | None = await run_in_threadpool(
        tools.chunk_in_document, chunk_id[:_MAX_ID] or _BLANK_ID
    )
    if found is None:
        raise not_found()
    doc, chunk = found
    span = _marked_span(start, end, chunk.span)
    window, before, text, after = doc.window(span, context)
    return ChunkContextOut(
        chunk_id=chunk.id,
        document_id=doc.document_id,
        source_id=doc.source_id,
        title=doc.title,
        uri=doc.uri,
        updated_at=chunk.updated_at,
        stale=services.agent.freshness.is_stale(chunk.source_id, chunk.updated_at, now()),
        span=SpanOut(start=span.start, end=span.end),
        window=SpanOut(start=window.start, end=window.end),
        before=before,
        text=text,
        after=after,
        marked=f"{before}⟦{text}⟧{after}",
        document_url=f"/v1/documents/{doc.document_id}?start={span.start}&end={span.end}",
    )
