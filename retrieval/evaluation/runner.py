"""Running retrieval configurations over an indexed BEIR dataset and scoring them.

An :class:`EvalSession` indexes the corpus once (real stores), embeds the queries once (through
the cache), and fetches each query's engine lists once at the deepest depth any configuration
asks for; every configuration then re-ranks those lists through the same
:meth:`retrieval.hybrid.HybridRetriever.rank` the service uses. Comparing ten fusion or
reranker variants therefore costs one retrieval pass. Truncating a deeper engine list is the
same as asking the engine for fewer hits (engines rank deterministically, and filtered dense
search on these corpus sizes is exact).

Evaluation is at the document level: a document's score is the max over its chunks' final
scores (its best chunk decides), the usual MaxP aggregation for passage-level retrieval.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from core.acl import Principal
from core.embedding import Embedder
from core.settings import Settings
from index.types import Hit, SearchFilter
from retrieval.evaluation.beir import BeirDataset
from retrieval.evaluation.configs import Engines, EvalConfig
from retrieval.evaluation.indexing import EVAL_UPDATED_AT, EvalIndex, build_index
from retrieval.evaluation.metrics import Qrels, Run, evaluate, per_query
from retrieval.hybrid import EngineHits, FusionConfig, HybridRetriever
from retrieval.rerankers import Reranker, build_reranker
from retrieval.results import RetrievedChunk

EVAL_AS_OF = datetime(2020, 6, 1, tzinfo=EVAL_UPDATED_AT.tzinfo)
EVAL_PRINCIPAL = Principal(user_id="evaluator")


class EvalReport(BaseModel):
    """One configuration on one dataset split: metrics, the configuration, and timings."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    split: str
    queries: int
    documents: int
    chunks: int
    backend: str
    configuration: dict[str, Any]
    metrics: dict[str, float]
    timing: dict[str, float]


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


class EvalSession:
    """One dataset split indexed in real stores, ready to evaluate configurations."""

    def __init__(
        self,
        dataset: BeirDataset,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        workdir: Path | None = None,
        progress: Callable[[str], None] | None = None,
        dense: bool = True,
    ) -> None:
        self.dataset = dataset
        self.dense = dense
        self.settings = settings or Settings()
        self.embedder = embedder or Embedder(self.settings.embedding)
        self.say = progress or (lambda _msg: None)
        t0 = time.perf_counter()
        self.index: EvalIndex = build_index(
            dataset, self.embedder, self.settings, workdir=workdir, progress=self.say, dense=dense
        )
        self.index_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.qids = sorted(dataset.queries)
        if dense:
            vecs = self.embedder.encode([dataset.queries[q] for q in self.qids])
        else:  # the vector store is empty: any vector finds nothing
            vecs = np.zeros((len(self.qids), self.embedder.dimension), dtype=np.float32)
        self.query_vectors = {q: vecs[i] for i, q in enumerate(self.qids)}
        self.embed_queries_s = time.perf_counter() - t0
        self.filter = SearchFilter.for_principal(EVAL_PRINCIPAL)
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gw-eval")
        self._hits: dict[str, EngineHits] = {}
        self._depth = 0
        self._retrieve_ms: dict[str, float] = {}
        self._rerankers: dict[str, Reranker | None] = {}

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.index.close()

    def __enter__(self) -> EvalSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ retrieval

    def retriever(self, config: EvalConfig) -> HybridRetriever:
        if config.reranker not in self._rerankers:
            self._rerankers[config.reranker] = build_reranker(config.reranker, self.embedder)
        return HybridRetriever(
            vectors=self.index.vectors,
            keywords=self.index.keywords,
            embedder=self.embedder,
            settings=config.retrieval_settings(),
            fusion=FusionConfig(
                method=config.fusion,
                rrf_k=config.rrf_k,
                dense_weight=config.dense_weight,
                normalization=config.normalization,
            ),
            reranker=self._rerankers[config.reranker],
            executor=self._executor,
        )

    def engine_hits(self, depth: int) -> dict[str, EngineHits]:
        """Each query's BM25 and dense lists at ``depth`` (fetched once at the deepest depth)."""
        if depth > self._depth:
            r = self.retriever(EvalConfig(name="fetch", candidates=depth))
            for q in self.qids:
                t0 = time.perf_counter()
                self._hits[q] = r.retrieve(
                    self.dataset.queries[q], self.filter, query_vector=self.query_vectors[q], depth=depth
                )
                self._retrieve_ms[q] = (time.perf_counter() - t0) * 1000
            self._depth = depth
            self.say(f"{self.dataset.name}: engine lists at depth {depth} for {len(self.qids)} queries")
        if depth == self._depth:
            return self._hits
        return {
            q: EngineHits(
                bm25=h.bm25[:depth],
                dense=h.dense[:depth],
                unavailable=h.unavailable,
                query_vector=h.query_vector,
            )
            for q, h in self._hits.items()
        }

    def ranked(self, config: EvalConfig) -> tuple[dict[str, list[RetrievedChunk] | list[Hit]], list[float]]:
        """Each query's ranked chunks under ``config`` and the per-query search times (ms)."""
        hits = self.engine_hits(config.candidates)
        out: dict[str, list[RetrievedChunk] | list[Hit]] = {}
        times: list[float] = []
        retriever = self.retriever(config) if config.engines is Engines.HYBRID else None
        for q in self.qids:
            t0 = time.perf_counter()
            h = hits[q]
            if retriever is None:
                out[q] = h.bm25 if config.engines is Engines.BM25 else h.dense
            else:
                out[q] = retriever.rank(self.dataset.queries[q], h, as_of=EVAL_AS_OF)
            times.append(self._retrieve_ms[q] + (time.perf_counter() - t0) * 1000)
        return out, times

    def document_run(
        self, ranked: dict[str, list[RetrievedChunk] | list[Hit]]
    ) -> dict[str, dict[str, float]]:
        """Document scores: the max over each document's chunks (MaxP)."""
        run: dict[str, dict[str, float]] = {}
        for q, items in ranked.items():
            docs: dict[str, float] = {}
            for item in items:
                beir = self.index.beir_id[item.chunk.document_id]
                if beir not in docs or item.score > docs[beir]:
                    docs[beir] = float(item.score)
            run[q] = docs
        return run

    # ------------------------------------------------------------------ scoring

    def run(self, config: EvalConfig) -> tuple[EvalReport, Run]:
        t0 = time.perf_counter()
        ranked, times = self.ranked(config)
        doc_run = self.document_run(ranked)
        report = self._report(
            config, self.dataset.split, self.dataset.qrels, doc_run, times, time.perf_counter() - t0
        )
        return report, doc_run

    def reports(self, config: EvalConfig, splits: Mapping[str, Qrels]) -> list[EvalReport]:
        """One report per split, from one ranking of every query (a merged dataset, indexed once).

        ``splits`` maps a split name to its judged queries' qrels (each a subset of this
        session's queries): see :func:`retrieval.evaluation.beir.merge_splits`.
        """
        t0 = time.perf_counter()
        ranked, times = self.ranked(config)
        doc_run = self.document_run(ranked)
        rank_s = time.perf_counter() - t0
        by_query = dict(zip(self.qids, times, strict=True))
        out: list[EvalReport] = []
        for split, qrels in splits.items():
            unknown = set(qrels) - set(by_query)
            if unknown:
                raise ValueError(f"split {split!r} has {len(unknown)} queries this session did not run")
            out.append(
                self._report(
                    config,
                    split,
                    qrels,
                    {q: doc_run[q] for q in qrels},
                    [by_query[q] for q in qrels],
                    rank_s,
                )
            )
        return out

    def _report(
        self,
        config: EvalConfig,
        split: str,
        qrels: Qrels,
        doc_run: Run,
        times: Sequence[float],
        rank_s: float,
    ) -> EvalReport:
        metrics = evaluate(qrels, doc_run)
        timing = {
            "index_s": round(self.index_s, 3),
            "embed_queries_s": round(self.embed_queries_s, 3),
            "rank_s": round(rank_s, 3),
            "search_ms_p50": round(percentile(times, 50), 3),
            "search_ms_p95": round(percentile(times, 95), 3),
            "embedded_now": self.index.timings_s.get("embedded_now", 0.0),
            **{k: round(v, 3) for k, v in self.index.timings_s.items() if k != "embedded_now"},
        }
        return EvalReport(
            dataset=self.dataset.name,
            split=split,
            queries=len(qrels),
            documents=len(self.dataset.corpus),
            chunks=len(self.index.chunks),
            backend=f"{self.index.vectors.backend}+{self.index.keywords.backend}",
            configuration=config.model_dump(mode="json"),
            metrics={k: round(v, 4) for k, v in metrics.items()},
            timing=timing,
        )

    def evaluate(self, config: EvalConfig) -> EvalReport:
        return self.run(config)[0]

    def per_query(self, config: EvalConfig) -> dict[str, dict[str, float]]:
        return per_query(self.dataset.qrels, self.run(config)[1])


def evaluate_configs(
    dataset: BeirDataset,
    configs: Iterable[EvalConfig],
    *,
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
    splits: Mapping[str, Qrels] | None = None,
    on_report: Callable[[EvalReport], None] | None = None,
) -> list[EvalReport]:
    """Index ``dataset`` once and evaluate every configuration on it.

    With ``splits`` (a merged dataset's splits, :func:`~retrieval.evaluation.beir.merge_splits`)
    every configuration yields one report per split. ``on_report`` sees each report as soon as it
    exists (long runs keep what they measured if a later configuration fails).
    """
    configs = list(configs)
    dense = any(c.engines is not Engines.BM25 for c in configs)
    out: list[EvalReport] = []
    with EvalSession(dataset, settings=settings, progress=progress, dense=dense) as session:
        session.engine_hits(max(c.candidates for c in configs))
        for c in configs:
            got = session.reports(c, splits) if splits else [session.evaluate(c)]
            for r in got:
                if on_report:
                    on_report(r)
            out.extend(got)
    return out


def mean_metric(reports: Sequence[EvalReport], metric: str) -> float:
    return statistics.fmean(r.metrics[metric] for r in reports) if reports else 0.0
