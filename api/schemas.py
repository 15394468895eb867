"""Request and response schemas of the HTTP API, separate from the domain models they carry.

Limits that depend on settings (question length, top_k range) are checked in the routes
against the app's settings and reported as 422 with the limit in the message; the schemas
describe them in words. Unknown fields are refused (422) so a typo never passes silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.result import AgentResult, StepKind
from agent.tools import SourceView
from core.models import Citation
from retrieval.results import SearchResponse

# ---------------------------------------------------------------------------- requests


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "How many approvals does a production deploy need?"},
                {"question": "What is the PTO policy and who approves requests?", "top_k": 8},
            ]
        },
    )

    question: str = Field(description="1 to api.max_question_chars characters (2000 by default)")
    top_k: int | None = Field(None, description="passages per search, 1 to api.max_top_k (50 by default)")


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"query": "deploy approvals", "top_k": 5}]},
    )

    query: str = Field(description="1 to api.max_question_chars characters")
    top_k: int | None = Field(None, description="1 to api.max_top_k (50 by default)")
    source_ids: list[str] | None = Field(None, description="only these sources (default: all you may read)")


# ---------------------------------------------------------------------------- pieces


class SpanOut(BaseModel):
    start: int = Field(description="offset of the first character in the document's normalized text")
    end: int = Field(description="offset after the last character (half-open)")


class CitationOut(BaseModel):
    number: int = Field(description="the [n] marker in the answer")
    document_id: str
    chunk_id: str
    title: str
    uri: str
    quote: str = Field(description="exactly the document's text at span")
    span: SpanOut
    updated_at: datetime
    stale: bool
    chunk_url: str = Field(description="GET this to see the quote in its context")

    @classmethod
    def of(cls, number: int, c: Citation) -> CitationOut:
        return cls(
            number=number,
            document_id=c.document_id,
            chunk_id=c.chunk_id,
            title=c.title,
            uri=c.uri,
            quote=c.quote,
            span=SpanOut(start=c.span.start, end=c.span.end),
            updated_at=c.updated_at,
            stale=c.stale,
            chunk_url=f"/v1/chunks/{c.chunk_id}?start={c.span.start}&end={c.span.end}",
        )


class SentenceOut(BaseModel):
    text: str
    citations: list[int]
    support: float


class StepOut(BaseModel):
    index: int
    kind: StepKind
    summary: str
    query: str | None = None
    part: int | None = None
    found: int = 0
    best_support: float | None = None
    degraded: bool = False
    elapsed_ms: float = 0.0


class AskResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "trace_id": "4f9c2a7e0b1d4c3a9e8f7a6b5c4d3e2f",
                    "answer": "Every production deploy needs approval from two reviewers [1].",
                    "sentences": [
                        {
                            "text": "Every production deploy needs approval from two reviewers.",
                            "citations": [1],
                            "support": 0.97,
                        }
                    ],
                    "citations": [
                        {
                            "number": 1,
                            "document_id": "6a1f...",
                            "chunk_id": "0b7e...",
                            "title": "Deploy process",
                            "uri": "file:///corpus/engineering/runbooks/deploy-process.md",
                            "quote": "Every production deploy needs approval from two reviewers.",
                            "span": {"start": 412, "end": 471},
                            "updated_at": "2026-09-01T00:00:00Z",
                            "stale": False,
                            "chunk_url": "/v1/chunks/0b7e...?start=412&end=471",
                        }
                    ],
                    "refused": False,
                    "refusal_reason": None,
                    "confidence": 0.71,
                    "degraded": False,
                    "warnings": [],
                    "searched": ["How many approvals does a production deploy need?"],
                    "steps": [],
                    "reasoner": "extractive",
                    "elapsed_ms": 84.2,
                }
            ]
        }
    )

    trace_id: str
    answer: str
    sentences: list[SentenceOut]
    citations: list[CitationOut]
    refused: bool
    refusal_reason: str | None
    confidence: float
    degraded: bool = Field(description="one search engine was down; answered from the other")
    warnings: list[str]
    searched: list[str]
    steps: list[StepOut]
    reasoner: str
    elapsed_ms: float

    @classmethod
    def of(cls, r: AgentResult) -> AskResponse:
        return cls(
            trace_id=r.trace_id,
            answer=r.answer,
            sentences=[
                SentenceOut(text=s.text, citations=list(s.citations), support=round(s.support, 4))
                for s in r.sentences
            ],
            citations=[CitationOut.of(i, c) for i, c in enumerate(r.citations, start=1)],
            refused=r.refused,
            refusal_reason=r.refusal_reason,
            confidence=round(r.confidence, 4),
            degraded=r.degraded,
            warnings=list(r.warnings),
            searched=list(r.searched),
            steps=[StepOut.model_validate(s.model_dump()) for s in r.steps],
            reasoner=r.reasoner,
            elapsed_ms=round(r.elapsed_ms, 2),
        )


class StageScoreOut(BaseModel):
    score: float
    rank: int


class RankedChunkOut(BaseModel):
    chunk_id: str
    rank: int
    score: float
    span: SpanOut
    stages: dict[str, StageScoreOut] = Field(
        description="bm25, dense, fused, reranked, freshness: score and rank"
    )


class PassageOut(BaseModel):
    rank: int
    score: float
    document_id: str
    source_id: str
    title: str
    uri: str
    text: str
    span: SpanOut
    updated_at: datetime
    stale: bool
    chunks: list[RankedChunkOut]


class SearchResponseOut(BaseModel):
    trace_id: str
    query: str
    passages: list[PassageOut]
    degraded: bool
    unavailable: list[str] = Field(description="engines that were down (bm25, dense)")
    reranker: str
    as_of: datetime
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, trace_id: str, r: SearchResponse) -> SearchResponseOut:
        by_id = {rc.chunk.id: rc for rc in r.results}
        passages = []
        for p in r.passages:
            chunks = [
                RankedChunkOut(
                    chunk_id=cid,
                    rank=by_id[cid].rank,
                    score=by_id[cid].score,
                    span=SpanOut(start=by_id[cid].chunk.span.start, end=by_id[cid].chunk.span.end),
                    stages={
                        str(k): StageScoreOut(score=v.score, rank=v.rank)
                        for k, v in by_id[cid].stages.items()
                    },
                )
                for cid in p.chunk_ids
                if cid in by_id
            ]
            passages.append(
                PassageOut(
                    rank=p.rank,
                    score=p.score,
                    document_id=p.document_id,
                    source_id=p.source_id,
                    title=p.title,
                    uri=p.uri,
                    text=p.text,
                    span=SpanOut(start=p.span.start, end=p.span.end),
                    updated_at=p.updated_at,
                    stale=p.stale,
                    chunks=chunks,
                )
            )
        return cls(
            trace_id=trace_id,
            query=r.query,
            passages=passages,
            degraded=r.degraded,
            unavailable=list(r.unavailable),
            reranker=r.reranker,
            as_of=r.as_of,
            timings_ms={k: round(v, 3) for k, v in r.timings_ms.items()},
        )


class DocumentOut(BaseModel):
    document_id: str
    source_id: str
    title: str
    uri: str
    updated_at: datetime
    stale: bool
    text: str = Field(description="the document's normalized text rebuilt from its chunks (offsets intact)")
    gaps: list[SpanOut] = Field(description="ranges no chunk holds (shown as blanks)")
    chunks: list[SpanOut]
    chunk_ids: list[str]
    marked: SpanOut | None = Field(None, description="the span asked for with ?start=&end=, if any")


class ChunkContextOut(BaseModel):
    chunk_id: str
    document_id: str
    source_id: str
    title: str
    uri: str
    updated_at: datetime
    stale: bool
    span: SpanOut = Field(description="the marked span: the chunk, or ?start=&end= inside it")
    window: SpanOut = Field(description="the part of the document shown: before + text + after")
    before: str
    text: str = Field(description="exactly the document's text at span")
    after: str
    marked: str = Field(description="before + '⟦' + text + '⟧' + after")
    document_url: str


class FailureOut(BaseModel):
    locator: str
    reason: str
    failed_at: datetime | None


class SourceOut(BaseModel):
    source_id: str
    kind: str
    last_indexed_at: datetime | None
    documents: int = Field(description="documents in this source that you may read")
    stale_documents: int
    newest_update: datetime | None
    max_age_days: float
    stale: bool
    failures: list[FailureOut] = Field(description="documents you may read that failed to index")

    @classmethod
    def of(cls, s: SourceView) -> SourceOut:
        return cls(
            source_id=s.source_id,
            kind=s.kind,
            last_indexed_at=s.last_indexed_at,
            documents=s.documents,
            stale_documents=s.stale_documents,
            newest_update=s.newest_update,
            max_age_days=s.max_age_days,
            stale=s.stale,
            failures=[
                FailureOut(locator=f.locator, reason=f.reason, failed_at=f.failed_at) for f in s.failures
            ],
        )


class SourcesOut(BaseModel):
    sources: list[SourceOut]


class BackendState(BaseModel):
    state: Literal["up", "down", "empty"] = Field(description="empty: reachable but no live generation yet")
    detail: str


class ReadyOut(BaseModel):
    status: Literal["ready", "degraded", "unavailable"]
    backends: dict[str, BackendState]


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ErrorOut(BaseModel):
    detail: str
    trace_id: str | None = None
