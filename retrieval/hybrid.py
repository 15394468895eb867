"""The hybrid retriever: BM25 and dense search in parallel, fused, reranked, freshness, shaped.

::

    query ─┬─ BM25 top-n (ACL inside the engine) ────────┐
           └─ embed ── dense top-n (ACL inside the engine) ┴─ fuse ─ rerank ─ freshness ─ shape

BM25 is submitted first and the query is embedded while it runs, so the two engines overlap
with the model. Each engine is searched with the caller's :class:`index.types.SearchFilter`
(there is no unfiltered path); forbidden chunks never take a candidate slot.

If one engine is unavailable (:class:`core.errors.StoreUnavailableError`) the other one's results
are returned with ``degraded=True`` and the failed stage named, so the API can say so; if both
are down the error propagates. Every stage's score and rank is kept on each result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from core.embedding import Embedder
from core.errors import StoreUnavailableError
from core.models import Chunk
from core.settings import FusionMethod, RetrievalSettings, Settings
from index.types import Hit, KeywordReader, SearchFilter, VectorReader, require_filter
from retrieval.freshness import FreshnessPolicy, aware, now
from retrieval.fusion import Normalization, reciprocal_rank_fusion, weighted_fusion
from retrieval.rerankers import Reranker, build_reranker
from retrieval.rerankers.base import Candidate, RerankQuery, minmax
from retrieval.results import RetrievedChunk, SearchResponse, Stage, StageScore
from retrieval.shaping import cap_per_document, merge_passages

QueryVector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FusionConfig:
    """How BM25 and dense lists are combined (from :class:`RetrievalSettings` by default)."""

    method: FusionMethod = FusionMethod.WEIGHTED
    rrf_k: int = 60
    dense_weight: float = 0.5
    normalization: Normalization = Normalization.MINMAX

    def __post_init__(self) -> None:
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be within [0, 1], got {self.dense_weight}")
        if self.rrf_k < 1:
            raise ValueError(f"rrf_k must be >= 1, got {self.rrf_k}")

    @classmethod
    def from_settings(cls, settings: RetrievalSettings) -> FusionConfig:
        return cls(
            method=settings.fusion,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            normalization=settings.normalization,
        )

    def fuse(self, bm25: Sequence[Hit], dense: Sequence[Hit]) -> list[tuple[str, float, int]]:
        runs = {
            Stage.BM25.value: [(h.chunk.id, h.score) for h in bm25],
            Stage.DENSE.value: [(h.chunk.id, h.score) for h in dense],
        }
        weights = {Stage.BM25.value: 1.0 - self.dense_weight, Stage.DENSE.value: self.dense_weight}
        if self.method is FusionMethod.RRF:
            fused = reciprocal_rank_fusion(runs, k=self.rrf_k, weights=weights)
        else:
            fused = weighted_fusion(runs, weights, normalization=self.normalization)
        return [(f.key, f.score, f.rank) for f in fused]


@dataclass
class EngineHits:
    """The raw engine lists of one query (what evaluation caches to replay fusion variants)."""

    bm25: list[Hit] = field(default_factory=list)
    dense: list[Hit] = field(default_factory=list)
    unavailable: tuple[str, ...] = ()
    query_vector: QueryVector | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class _Ranked:
    chunk: Chunk
    stages: dict[Stage, StageScore]
    score: float


class HybridRetriever:
    """Hybrid search over one vector store and one keyword store of the same generation.

    ``reranker=None`` disables reranking. ``executor`` lets a server share one thread pool
    across requests; by default the retriever owns a two-thread pool.
    """

    def __init__(
        self,
        *,
        vectors: VectorReader,
        keywords: KeywordReader,
        embedder: Embedder,
        settings: RetrievalSettings | None = None,
        fusion: FusionConfig | None = None,
        reranker: Reranker | None = None,
        freshness: FreshnessPolicy | None = None,
        executor: ThreadPoolExecutor | None = None,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.settings = settings or RetrievalSettings()
        if vectors.model_id != embedder.model_id:
            raise ValueError(
                f"the vector index holds {vectors.model_id!r} vectors but the embedder is "
                f"{embedder.model_id!r}: query vectors would not be comparable"
            )
        self.vectors = vectors
        self.keywords = keywords
        self.embedder = embedder
        self.fusion = fusion or FusionConfig.from_settings(self.settings)
        self.reranker = reranker
        self.freshness = freshness or FreshnessPolicy()
        self._executor = executor or ThreadPoolExecutor(max_workers=2, thread_name_prefix="gw-search")
        self._owns_executor = executor is None
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: Settings, *, vectors: VectorReader, keywords: KeywordReader, embedder: Embedder
    ) -> HybridRetriever:
        """The retriever the settings describe, over stores the caller opened."""
        return cls(
            vectors=vectors,
            keywords=keywords,
            embedder=embedder,
            settings=settings.retrieval,
            reranker=build_reranker(settings.retrieval.reranker, embedder),
            freshness=FreshnessPolicy.from_settings(settings),
        )

    def close(self) -> None:
        if self._owns_executor:
            self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------ public API

    def search(
        self,
        query: str,
        flt: SearchFilter,
        *,
        top_k: int | None = None,
        as_of: datetime | None = None,
        query_vector: QueryVector | None = None,
        rerank: bool = True,
    ) -> SearchResponse:
        """The top ``top_k`` chunks for ``query`` that ``flt`` allows, with passages.

        ``as_of`` fixes "now" for stale flags and the recency boost (reproducible runs);
        ``query_vector`` skips embedding when the caller has it (evaluation batches queries).
        """
        flt = require_filter(flt)
        k = self.settings.top_k if top_k is None else top_k
        if k < 1:
            raise ValueError(f"top_k must be >= 1, got {k}")
        when = aware(as_of) if as_of is not None else self._clock()
        hits = self.retrieve(query, flt, query_vector=query_vector)
        t0 = time.perf_counter()
        ranked = self.rank(query, hits, as_of=when, rerank=rerank)
        capped = cap_per_document(ranked, self.settings.per_document_cap)[:k]
        passages = merge_passages(capped)
        hits.timings_ms["rank_ms"] = (time.perf_counter() - t0) * 1000
        return SearchResponse(
            query=query,
            results=tuple(capped),
            passages=tuple(passages),
            as_of=when,
            degraded=bool(hits.unavailable),
            unavailable=hits.unavailable,
            reranker=self.reranker.name if (self.reranker and rerank) else "none",
            timings_ms=hits.timings_ms,
        )

    def retrieve(
        self,
        query: str,
        flt: SearchFilter,
        *,
        query_vector: QueryVector | None = None,
        depth: int | None = None,
    ) -> EngineHits:
        """BM25 and dense top-``depth`` in parallel, each filtered inside its engine."""
        flt = require_filter(flt)
        n = depth or self.settings.candidates
        out = EngineHits()
        t0 = time.perf_counter()
        bm25_future: Future[list[Hit]] = self._executor.submit(self.keywords.search, query, flt, n)
        dense_future: Future[list[Hit]] | None = None
        dense_error: StoreUnavailableError | None = None
        vector = query_vector
        if vector is None:
            vector = self.embedder.encode_query(query)
            out.timings_ms["embed_ms"] = (time.perf_counter() - t0) * 1000
        out.query_vector = vector
        dense_future = self._executor.submit(self.vectors.search, vector.tolist(), flt, n)
        unavailable: list[str] = []
        bm25_error: StoreUnavailableError | None = None
        try:
            out.bm25 = bm25_future.result()
        except StoreUnavailableError as exc:
            bm25_error = exc
            unavailable.append(Stage.BM25.value)
        try:
            out.dense = dense_future.result()
        except StoreUnavailableError as exc:
            dense_error = exc
            unavailable.append(Stage.DENSE.value)
        if bm25_error is not None and dense_error is not None:
            raise dense_error from bm25_error
        out.unavailable = tuple(unavailable)
        out.timings_ms["retrieve_ms"] = (time.perf_counter() - t0) * 1000
        return out

    def rank(
        self, query: str, hits: EngineHits, *, as_of: datetime, rerank: bool = True
    ) -> list[RetrievedChunk]:
        """Fuse, rerank and apply freshness to one query's engine lists: every candidate, ranked."""
        ranked = self._fuse(hits)
        if rerank and self.reranker is not None and ranked:
            ranked = self._rerank(query, hits.query_vector, ranked)
        return self._freshen(ranked, aware(as_of))

    # ------------------------------------------------------------------ stages

    def _fuse(self, hits: EngineHits) -> list[_Ranked]:
        chunks: dict[str, Chunk] = {}
        stages: dict[str, dict[Stage, StageScore]] = {}
        for stage, lst in ((Stage.BM25, hits.bm25), (Stage.DENSE, hits.dense)):
            for h in lst:
                chunks.setdefault(h.chunk.id, h.chunk)
                stages.setdefault(h.chunk.id, {})[stage] = StageScore(score=h.score, rank=h.rank)
        out: list[_Ranked] = []
        for key, score, rank in self.fusion.fuse(hits.bm25, hits.dense):
            st = stages[key]
            st[Stage.FUSED] = StageScore(score=score, rank=rank)
            out.append(_Ranked(chunks[key], st, score))
        return out

    def _rerank(self, query: str, vector: QueryVector | None, ranked: list[_Ranked]) -> list[_Ranked]:
        assert self.reranker is not None
        depth = min(self.settings.rerank_depth, len(ranked))
        head, tail = ranked[:depth], ranked[depth:]
        scores = self.reranker.score(RerankQuery(query, vector), [Candidate(r.chunk, r.stages) for r in head])
        order = sorted(range(depth), key=lambda i: (-scores[i], head[i].stages[Stage.FUSED].rank))
        reranked: list[_Ranked] = []
        for rank, i in enumerate(order, start=1):
            r = head[i]
            r.stages[Stage.RERANKED] = StageScore(score=scores[i], rank=rank)
            r.score = scores[i]
            reranked.append(r)
        # The tail keeps its fused order below every reranked candidate; its score is shifted
        # under the lowest reranked score so that "score" stays monotone in rank.
        if tail:
            floor = min(scores) if scores else 0.0
            top = tail[0].score
            for r in tail:
                r.score = floor - 1.0 - (top - r.score)
        return reranked + tail

    def _freshen(self, ranked: list[_Ranked], as_of: datetime) -> list[RetrievedChunk]:
        policy = self.freshness
        if policy.boosts and ranked:
            normalized = minmax([r.score for r in ranked])
            blended = [
                policy.blend(n, policy.decay(r.chunk.updated_at, as_of))
                for n, r in zip(normalized, ranked, strict=True)
            ]
            order = sorted(range(len(ranked)), key=lambda i: (-blended[i], i))
            for rank, i in enumerate(order, start=1):
                ranked[i].stages[Stage.FRESHNESS] = StageScore(score=blended[i], rank=rank)
                ranked[i].score = blended[i]
            ranked = [ranked[i] for i in order]
        return [
            RetrievedChunk(
                chunk=r.chunk,
                score=r.score,
                rank=rank,
                stages=r.stages,
                stale=policy.is_stale(r.chunk.source_id, r.chunk.updated_at, as_of),
            )
            for rank, r in enumerate(ranked, start=1)
        ]
