"""The reranker contract: score a query against a short list of candidates.

A reranker sees the top ``rerank_depth`` fused candidates (never the whole index), with every
earlier stage's score and rank, so a learned reranker can use them as features and a
cross-encoder can ignore them. It returns one score per candidate, higher is better; the
retriever orders by it and records it as the ``reranked`` stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from core.models import Chunk
from retrieval.results import Stage, StageScore


@dataclass(frozen=True, slots=True)
class RerankQuery:
    """The query text and, when the retriever embedded it, its normalized vector."""

    text: str
    vector: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A chunk up for reranking with the stages that ranked it so far."""

    chunk: Chunk
    stages: Mapping[Stage, StageScore]


@runtime_checkable
class Reranker(Protocol):
    """Scores candidates for a query; ``name`` is recorded in every response."""

    name: str

    def score(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[float]:
        """One score per candidate, in the candidates' order; higher ranks first."""
        ...


def passage_text(chunk: Chunk) -> str:
    """What a text-pair reranker reads: the document title, then the chunk."""
    return f"{chunk.title}\n\n{chunk.text}" if chunk.title else chunk.text


def minmax(values: Sequence[float]) -> list[float]:
    """Scale to [0, 1] over the list (all ones for a constant list)."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-12:
        return [1.0] * len(values)
    return [(v - lo) / (hi - lo) for v in values]
