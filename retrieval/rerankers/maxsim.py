"""Sentence-level max-similarity with the bi-encoder: the best sentence decides.

A chunk embedding averages everything the chunk says; a question or a claim usually matches one
sentence of it (SciFact claims restate one sentence of an abstract). Scoring each candidate by
its best-matching sentence, cosine with the same MiniLM bi-encoder, sharpens that signal at no
extra model cost. The result is blended with the fused score (both min-max normalized over the
reranked list), because max-similarity alone forgets what BM25 knew.

Sentence vectors go through the :class:`core.embedding.Embedder` cache, so each sentence of the
corpus is embedded once; the pipeline can pre-fill them (:func:`sentence_texts`) so that a
query pays only for cache look-ups.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.embedding import Embedder
from core.models import Chunk
from retrieval.rerankers.base import Candidate, RerankQuery, minmax
from retrieval.results import Stage
from retrieval.sentences import sentence_texts

__all__ = ["MaxSimReranker", "MaxSimScorer", "sentence_texts"]


class MaxSimScorer:
    """Max cosine between a query vector and each candidate's sentences (no blending)."""

    def __init__(self, embedder: Embedder, *, include_title: bool = True) -> None:
        self.embedder = embedder
        self.include_title = include_title

    def query_vector(self, query: RerankQuery) -> np.ndarray:
        if query.vector is not None:
            return np.asarray(query.vector, dtype=np.float32)
        return self.embedder.encode_query(query.text)

    def maxsim(self, query: RerankQuery, chunks: Sequence[Chunk]) -> list[float]:
        if not chunks:
            return []
        q = self.query_vector(query)
        per_chunk = [sentence_texts(c, include_title=self.include_title) for c in chunks]
        flat = [t for texts in per_chunk for t in texts]
        sims = self.embedder.encode(flat) @ q
        out: list[float] = []
        i = 0
        for texts in per_chunk:
            out.append(float(sims[i : i + len(texts)].max()))
            i += len(texts)
        return out


class MaxSimReranker:
    """``(1 - weight) * fused + weight * maxsim``, both min-max normalized over the candidates."""

    def __init__(self, embedder: Embedder, *, weight: float = 0.5, include_title: bool = True) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"maxsim weight must be within [0, 1], got {weight}")
        self.scorer = MaxSimScorer(embedder, include_title=include_title)
        self.weight = weight
        self.name = f"maxsim(w={weight:g})"

    def score(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[float]:
        sims = minmax(self.scorer.maxsim(query, [c.chunk for c in candidates]))
        fused = minmax([c.stages[Stage.FUSED].score for c in candidates])
        return [(1.0 - self.weight) * f + self.weight * s for f, s in zip(fused, sims, strict=True)]
