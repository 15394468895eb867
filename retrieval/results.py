"""What a search returns: ranked chunks that remember why they ranked where they did.

Every result keeps the score and rank each stage gave it (BM25, dense, fused, reranked,
freshness), so a user or a tuning session can see which engine found a chunk and which stage
moved it. A stage that did not see a chunk (BM25 found it, dense did not) has no entry: absence
is information too. Results and passages are frozen pydantic values because they cross into the
agent and the API unchanged.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from core.models import Chunk, ChunkSpan


class Stage(StrEnum):
    """The stages of the ranking pipeline, in the order they run."""

    BM25 = "bm25"
    DENSE = "dense"
    FUSED = "fused"
    RERANKED = "reranked"
    FRESHNESS = "freshness"


class StageScore(BaseModel):
    """A chunk's score and 1-based rank in one stage's ranking."""

    model_config = ConfigDict(frozen=True)

    score: float
    rank: int = Field(ge=1)


class RetrievedChunk(BaseModel):
    """One ranked chunk with its final score and rank and each stage's score and rank."""

    model_config = ConfigDict(frozen=True)

    chunk: Chunk
    score: float = Field(description="the score of the last stage that ranked it")
    rank: int = Field(ge=1)
    stages: dict[Stage, StageScore]
    stale: bool = Field(description="older than its source's max age at the search's as_of")

    @property
    def updated_at(self) -> datetime:
        return self.chunk.updated_at

    @property
    def document_id(self) -> str:
        return self.chunk.document_id


class Passage(BaseModel):
    """Adjacent chunks of one document merged into one contiguous span of its text.

    ``text`` is exactly ``document.text[span.start:span.end]``: overlapping chunk texts are
    stitched at their offsets, never concatenated, so citations into a passage are citations
    into the document.
    """

    model_config = ConfigDict(frozen=True)

    document_id: str
    source_id: str
    chunk_ids: tuple[str, ...]
    chunk_spans: tuple[ChunkSpan, ...] = Field(description="each chunk's span, as chunk_ids")
    title: str
    uri: str
    text: str
    span: ChunkSpan
    score: float = Field(description="the best final score of its chunks")
    rank: int = Field(ge=1, description="1-based order of passages, by their best chunk")
    updated_at: datetime
    stale: bool

    def chunk_offset(self, document_offset: int) -> int:
        """Offset into ``text`` of a character at ``document_offset`` in the document."""
        if not self.span.start <= document_offset <= self.span.end:
            raise ValueError(f"offset {document_offset} lies outside the passage span {self.span}")
        return document_offset - self.span.start


class SearchResponse(BaseModel):
    """A search's ranked chunks, the passages shaped from them, and how it was served."""

    model_config = ConfigDict(frozen=True)

    query: str
    results: tuple[RetrievedChunk, ...]
    passages: tuple[Passage, ...]
    as_of: datetime
    degraded: bool = Field(
        False, description="an engine was unavailable; results come from the other one alone"
    )
    unavailable: tuple[str, ...] = Field((), description="stages whose engine was down")
    reranker: str = "none"
    timings_ms: dict[str, float] = Field(default_factory=dict)
