"""Evaluating a retriever stage by stage on any (queries, qrels) set: the evaluation assets' core.

:func:`evaluate_retriever` runs each query once through a :class:`~retrieval.hybrid.HybridRetriever`
(whatever stores it reads: the live generation, a candidate generation, an indexed BEIR set) and
scores every stage of the same engine lists with the eval harness' metrics (pytrec_eval,
:mod:`retrieval.evaluation.metrics`) and the same MaxP document aggregation as ``groundwork eval``:

- ``bm25`` and ``dense``: each engine's list on its own;
- ``fused``: BM25 and dense fused (no reranking);
- ``reranked``: fused, then the configured reranker (only when one is configured).

The last stage is what the service ranks with (freshness applied at a fixed ``as_of``); its
metrics are :attr:`RetrievalEvaluation.metrics`. Per-query rows and the final scores of judged
and unjudged documents (for a score-distribution plot) are kept for inspection.

Each query is searched with its own filter (a golden set asks as each item's user), so a query
never sees a chunk its principal may not read, here as in the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from core.models import Chunk
from core.settings import RetrievalSettings
from index.types import Hit, SearchFilter
from retrieval.evaluation.configs import EvalConfig
from retrieval.evaluation.metrics import METRICS, Qrels, evaluate, per_query
from retrieval.freshness import now
from retrieval.hybrid import HybridRetriever
from retrieval.results import RetrievedChunk

STAGES: tuple[str, ...] = ("bm25", "dense", "fused", "reranked")
SCORE_SAMPLE_DEPTH = 100
"""Documents per query whose final score is kept for the score-distribution plot."""

DocumentKey = Callable[[Chunk], str]
QueryVector = npt.NDArray[np.float32]


class QueryRow(BaseModel):
    """One query's outcome: final-stage metrics, each stage's nDCG@10, where the first hit sits."""

    model_config = ConfigDict(frozen=True)

    query_id: str
    query: str
    relevant: int
    metrics: dict[str, float]
    stage_ndcg10: dict[str, float]
    first_relevant_rank: int | None
    top_document: str | None
    ranking: tuple[str, ...]
    search_ms: float


class RetrievalEvaluation(BaseModel):
    """Metrics of the final stage and of every stage, per-query rows, and score samples."""

    model_config = ConfigDict(frozen=True)

    name: str
    queries: int
    stages: tuple[str, ...]
    metrics: dict[str, float]
    stage_metrics: dict[str, dict[str, float]]
    rows: tuple[QueryRow, ...]
    relevant_scores: tuple[float, ...]
    other_scores: tuple[float, ...]
    configuration: dict[str, object]
    timing: dict[str, float]

    def rows_csv(self) -> str:
        """The per-query rows as CSV (one line per query; metrics, then each stage's nDCG@10)."""
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            [
                "query_id",
                "relevant",
                *METRICS,
                *(f"{s}_ndcg@10" for s in self.stages),
                "first_relevant_rank",
                "top_document",
                "search_ms",
                "query",
            ]
        )
        for r in self.rows:
            w.writerow(
                [r.query_id, r.relevant, *(f"{r.metrics[m]:.4f}" for m in METRICS)]
                + [f"{r.stage_ndcg10[s]:.4f}" for s in self.stages]
                + [r.first_relevant_rank or "", r.top_document or "", f"{r.search_ms:.1f}", r.query]
            )
        return buf.getvalue()

    def markdown(self) -> str:
        """The metrics of every stage as a Markdown table (the final stage last)."""
        head = "| stage | " + " | ".join(METRICS) + " |"
        lines = [head, "|---" * (len(METRICS) + 1) + "|"]
        for s in self.stages:
            m = self.stage_metrics[s]
            lines.append(f"| {s} | " + " | ".join(f"{m[k]:.4f}" for k in METRICS) + " |")
        return "\n".join(lines)


def config_from_settings(retrieval: RetrievalSettings, name: str = "configured") -> EvalConfig:
    """The evaluation configuration that ``retrieval`` describes (what the service runs)."""
    return EvalConfig(
        name=name,
        fusion=retrieval.fusion,
        normalization=retrieval.normalization,
        rrf_k=retrieval.rrf_k,
        dense_weight=retrieval.dense_weight,
        reranker=retrieval.reranker,
        rerank_depth=retrieval.rerank_depth,
        candidates=max(retrieval.candidates, 10),
    )


def document_run(items: Sequence[RetrievedChunk] | Sequence[Hit], key: DocumentKey) -> dict[str, float]:
    """Document scores: the max over each document's chunks (MaxP, as ``groundwork eval``)."""
    docs: dict[str, float] = {}
    for item in items:
        d = key(item.chunk)
        if d not in docs or item.score > docs[d]:
            docs[d] = float(item.score)
    return docs


def _document_id(chunk: Chunk) -> str:
    return chunk.document_id


def evaluate_retriever(
    retriever: HybridRetriever,
    queries: Mapping[str, str],
    qrels: Qrels,
    *,
    filters: SearchFilter | Mapping[str, SearchFilter],
    document_key: DocumentKey = _document_id,
    as_of: datetime | None = None,
    query_vectors: Mapping[str, QueryVector] | None = None,
    depth: int | None = None,
    name: str = "retrieval",
) -> RetrievalEvaluation:
    """Search every judged query once and score each stage (see the module docstring).

    ``filters`` is one filter for all queries or one per query id (a query without one is an
    error: there is no unfiltered search). ``document_key`` maps a chunk to the id the qrels use
    (default: the Groundwork document id). ``depth`` defaults to ``retrieval.candidates``.
    """
    when = as_of or now()
    judged = [q for q in sorted(qrels) if q in queries and any(g > 0 for g in qrels[q].values())]
    runs: dict[str, dict[str, dict[str, float]]] = {s: {} for s in STAGES}
    final: dict[str, list[RetrievedChunk]] = {}
    times: dict[str, float] = {}
    reranks = retriever.reranker is not None
    for q in judged:
        flt = filters if isinstance(filters, SearchFilter) else filters.get(q)
        if flt is None:
            raise ValueError(f"no search filter for query {q!r}: every query needs its principal's filter")
        t0 = time.perf_counter()
        vector = query_vectors.get(q) if query_vectors is not None else None
        hits = retriever.retrieve(queries[q], flt, query_vector=vector, depth=depth)
        fused = retriever.rank(queries[q], hits, as_of=when, rerank=False)
        ranked = retriever.rank(queries[q], hits, as_of=when) if reranks else fused
        times[q] = (time.perf_counter() - t0) * 1000
        runs["bm25"][q] = document_run(hits.bm25, document_key)
        runs["dense"][q] = document_run(hits.dense, document_key)
        runs["fused"][q] = document_run(fused, document_key)
        if reranks:
            runs["reranked"][q] = document_run(ranked, document_key)
        final[q] = ranked
    stages = STAGES if reranks else STAGES[:3]
    judged_qrels = {q: dict(qrels[q]) for q in judged}
    stage_metrics = {s: evaluate(judged_qrels, runs[s]) for s in stages}
    stage_rows = {s: per_query(judged_qrels, runs[s]) for s in stages}
    last = stages[-1]
    rows: list[QueryRow] = []
    relevant_scores: list[float] = []
    other_scores: list[float] = []
    for q in judged:
        ordered = sorted(runs[last][q].items(), key=lambda kv: (-kv[1], kv[0]))
        relevant = {d for d, g in judged_qrels[q].items() if g > 0}
        first = next((i for i, (d, _) in enumerate(ordered, start=1) if d in relevant), None)
        for d, s in ordered[:SCORE_SAMPLE_DEPTH]:
            (relevant_scores if d in relevant else other_scores).append(s)
        rows.append(
            QueryRow(
                query_id=q,
                query=queries[q],
                relevant=len(relevant),
                metrics={m: round(v, 4) for m, v in stage_rows[last][q].items()},
                stage_ndcg10={s: round(stage_rows[s][q]["ndcg@10"], 4) for s in stages},
                first_relevant_rank=first,
                top_document=ordered[0][0] if ordered else None,
                ranking=tuple(d for d, _ in ordered[:10]),
                search_ms=round(times[q], 3),
            )
        )
    latencies = np.asarray(list(times.values()) or [0.0], dtype=np.float64)
    return RetrievalEvaluation(
        name=name,
        queries=len(judged),
        stages=stages,
        metrics={m: round(v, 4) for m, v in stage_metrics[last].items()},
        stage_metrics={s: {m: round(v, 4) for m, v in ms.items()} for s, ms in stage_metrics.items()},
        rows=tuple(rows),
        relevant_scores=tuple(relevant_scores),
        other_scores=tuple(other_scores),
        configuration={
            "fusion": retriever.fusion.method.value,
            "rrf_k": retriever.fusion.rrf_k,
            "dense_weight": retriever.fusion.dense_weight,
            "normalization": retriever.fusion.normalization.value,
            "candidates": depth or retriever.settings.candidates,
            "reranker": retriever.reranker.name if retriever.reranker is not None else "none",
            "rerank_depth": retriever.settings.rerank_depth,
            "as_of": when.isoformat(),
        },
        timing={
            "search_ms_p50": round(float(np.percentile(latencies, 50)), 3),
            "search_ms_p95": round(float(np.percentile(latencies, 95)), 3),
        },
    )
