"""The tuning sweep: a grid over fusion, candidate depth, reranker and per-document cap.

One dataset split is indexed once (:class:`~retrieval.evaluation.runner.EvalSession`), queries
are embedded once, and each query's BM25 and dense lists are fetched once at the deepest depth;
every grid point replays those lists through the service's own
:meth:`~retrieval.hybrid.HybridRetriever.rank`. A grid of a hundred points therefore costs one
retrieval pass plus a hundred fusions (and, for a reranker, its scoring).

What each point is judged on:

- the document-level metrics of ``groundwork eval`` (pytrec_eval over MaxP document scores);
  the ranking metric is ``evaluation.sweep.metric`` (nDCG@10 by default);
- the **evidence window**: the ``retrieval.top_k`` chunks the service returns after the
  per-document cap. The cap cannot change MaxP document metrics (a document's best chunk always
  survives it); it changes how many distinct documents reach the agent, measured as the recall
  of judged documents within the window (``window_recall``, pytrec_eval recall) and the mean
  number of distinct documents in it. Ties on the ranking metric are broken by window recall;
- latency: the engines' search time at the point's depth (timed on a sample of queries, query
  embedding excluded: it is the same for every point) plus the point's fusion/rerank time.

Sweeps run on tuning splits only: :func:`check_tuning_split` refuses ``test`` unless forced,
since tuning on the split you report overfits the figure. The winner is written as a settings
file with a ``[retrieval]`` table (:func:`recommended_toml`) that ``GW_CONFIG_FILE`` loads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from core.errors import ConfigurationError
from core.settings import FusionMethod, RetrievalSettings, Settings, SweepSettings
from retrieval.evaluation.beir import BeirDataset
from retrieval.evaluation.configs import DEFAULT_NORMALIZATION, EvalConfig
from retrieval.evaluation.metrics import METRICS, evaluate, per_query
from retrieval.evaluation.runner import EVAL_AS_OF, EvalSession
from retrieval.fusion import Normalization
from retrieval.results import RetrievedChunk
from retrieval.shaping import cap_per_document

REPORTED_SPLITS: frozenset[str] = frozenset({"test"})
"""Splits whose figures are reported: a sweep refuses them unless forced."""
LATENCY_SAMPLE = 50
"""Queries timed per candidate depth for the engines' share of the latency."""


def check_tuning_split(split: str, *, force: bool = False, reported: Sequence[str] = ()) -> None:
    """Refuse to tune on a split whose figures are reported (``test``, or one named in ``reported``)."""
    if force:
        return
    if split in REPORTED_SPLITS or split in reported:
        raise ConfigurationError(
            f"refusing to tune on the {split!r} split: its figures are the ones you report, and "
            "choosing settings on it overfits them. Tune on a tuning split (e.g. --split train, or "
            "the small sets), then score the winner on the test split with `groundwork eval`; "
            "pass --force-test only to reproduce a published sweep"
        )


class SweepPoint(BaseModel):
    """One grid point: an evaluation configuration plus the per-document cap."""

    model_config = ConfigDict(frozen=True)

    config: EvalConfig
    per_document_cap: int

    @property
    def label(self) -> str:
        c = self.config
        if c.fusion is FusionMethod.RRF:
            fusion = f"rrf k={c.rrf_k}"
        else:
            fusion = f"{c.normalization.value} w={c.dense_weight}"
        return f"{fusion} n={c.candidates} {c.reranker} cap={self.per_document_cap}"

    @property
    def loadable(self) -> bool:
        """Whether ``[retrieval]`` settings can express this point.

        Settings fuse with min-max normalization; a z-score point is measured (and shown) but can
        be recommended only once ``RetrievalSettings`` has a normalization field.
        """
        c = self.config
        return (
            c.fusion is FusionMethod.RRF
            or c.normalization is DEFAULT_NORMALIZATION
            or "normalization" in RetrievalSettings.model_fields
        )

    def retrieval_fields(self) -> dict[str, object]:
        """The ``[retrieval]`` fields this point sets."""
        c = self.config
        fields: dict[str, object] = {
            "fusion": c.fusion.value,
            "rrf_k": c.rrf_k,
            "dense_weight": c.dense_weight,
            "candidates": c.candidates,
            "reranker": c.reranker,
            "rerank_depth": c.rerank_depth,
            "per_document_cap": self.per_document_cap,
        }
        if "normalization" in RetrievalSettings.model_fields:
            fields["normalization"] = c.normalization.value
        return fields


class SweepRow(BaseModel):
    """One grid point's measurements; ``rank`` 1 is the best."""

    model_config = ConfigDict(frozen=True)

    rank: int
    label: str
    fusion: str
    rrf_k: int
    dense_weight: float
    normalization: str
    candidates: int
    reranker: str
    per_document_cap: int
    metrics: dict[str, float]
    window_recall: float
    window_documents: float
    rank_ms_p50: float
    engine_ms_p50: float
    latency_ms_p50: float
    loadable: bool
    current: bool
    retrieval: dict[str, object]


class SweepResult(BaseModel):
    """The ranked grid on one dataset split, with the recommendation and the sweep's timings."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    split: str
    metric: str
    queries: int
    documents: int
    chunks: int
    rows: tuple[SweepRow, ...]
    wall_s: float
    timing: dict[str, float]
    grid: dict[str, object]
    finished_at: str

    @property
    def best(self) -> SweepRow:
        """The best point that settings can express (the recommendation)."""
        for r in self.rows:
            if r.loadable:
                return r
        raise ConfigurationError("no grid point can be expressed in [retrieval] settings")

    @property
    def current(self) -> SweepRow | None:
        """The point the settings the sweep ran with describe."""
        return next((r for r in self.rows if r.current), None)

    def table(self, limit: int | None = 20) -> str:
        """The ranked grid as a Markdown table (the current settings' row always included)."""
        m = self.metric
        head = (
            f"| # | configuration | {m} | "
            + " | ".join(k for k in METRICS if k != m)
            + " | window recall | window docs | latency p50 ms |"
        )
        lines = [head, "|---" * (len(METRICS) + 6) + "|"]
        shown = list(self.rows[:limit] if limit else self.rows)
        cur = self.current
        if cur is not None and cur not in shown:
            shown.append(cur)
        for r in shown:
            tags = " (current)" if r.current else ""
            tags += "" if r.loadable else " (not loadable)"
            lines.append(
                f"| {r.rank} | {r.label}{tags} | {r.metrics[m]:.4f} | "
                + " | ".join(f"{r.metrics[k]:.4f}" for k in METRICS if k != m)
                + f" | {r.window_recall:.4f} | {r.window_documents:.2f} | {r.latency_ms_p50:.2f} |"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        """Why the winner wins, in two lines."""
        b, cur, m = self.best, self.current, self.metric
        text = (
            f"best of {len(self.rows)} on {self.dataset} ({self.split}, {self.queries} queries): "
            f"{b.label}: {m} {b.metrics[m]:.4f}, window recall {b.window_recall:.4f}, "
            f"latency p50 {b.latency_ms_p50:.2f} ms"
        )
        if cur is not None:
            text += (
                f"\ncurrent settings ({cur.label}) rank {cur.rank}: {m} {cur.metrics[m]:.4f} "
                f"({b.metrics[m] - cur.metrics[m]:+.4f} for the winner)"
            )
        return text

    def recommended_retrieval(self, base: RetrievalSettings | None = None) -> RetrievalSettings:
        """``base`` with the winner's fields (validated as settings)."""
        base = base or RetrievalSettings()
        return RetrievalSettings.model_validate({**base.model_dump(), **self.best.retrieval})


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    escaped = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def recommended_toml(result: SweepResult) -> str:
    """A settings file whose ``[retrieval]`` table is the sweep's recommendation."""
    b, m = result.best, result.metric
    cur = result.current
    lines = [
        f"# Recommended by `groundwork tune` on {result.dataset} ({result.split}, "
        f"{result.queries} queries), {result.finished_at}.",
        f"# {b.label}: {m} {b.metrics[m]:.4f}"
        + (f" (settings it ran with: {cur.metrics[m]:.4f})" if cur is not None else "")
        + f"; best of {len(result.rows)} points.",
        "# Load it with GW_CONFIG_FILE=<this file>, or copy the table into your settings file.",
        "[retrieval]",
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in b.retrieval.items()]
    return "\n".join(lines) + "\n"


def write_recommended(result: SweepResult, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(recommended_toml(result), encoding="utf-8")
    return path


def current_point(base: RetrievalSettings) -> SweepPoint:
    """The grid point ``base`` describes (what the service runs with these settings)."""
    return SweepPoint(
        config=EvalConfig(
            name="sweep",
            fusion=base.fusion,
            rrf_k=base.rrf_k,
            dense_weight=base.dense_weight,
            candidates=max(base.candidates, base.top_k, 10),
            reranker=base.reranker,
            rerank_depth=base.rerank_depth,
        ),
        per_document_cap=base.per_document_cap,
    )


def sweep_points(grid: SweepSettings, base: RetrievalSettings) -> list[SweepPoint]:
    """Every grid point (fusion variant x depth x reranker x cap), plus the ``base`` settings' point."""
    fusions: list[dict[str, object]] = [
        {"fusion": FusionMethod.RRF, "rrf_k": k, "dense_weight": 0.5} for k in grid.rrf_k
    ]
    fusions += [
        {"fusion": FusionMethod.WEIGHTED, "normalization": Normalization(n), "dense_weight": w}
        for n in grid.normalizations
        for w in grid.dense_weights
    ]
    points: list[SweepPoint] = []
    for depth in grid.candidates:
        for reranker in grid.rerankers:
            for f in fusions:
                cfg = EvalConfig.model_validate(
                    {
                        "name": "sweep",
                        "candidates": max(depth, base.top_k, 10),
                        "reranker": reranker,
                        "rerank_depth": base.rerank_depth,
                        **f,
                    }
                )
                points += [SweepPoint(config=cfg, per_document_cap=cap) for cap in grid.per_document_cap]
    current = current_point(base)
    if current not in points:
        points.append(current)
    return points


def _window_run(
    ranked: dict[str, list[RetrievedChunk]], beir_id: dict[str, str], cap: int, top_k: int
) -> dict[str, dict[str, float]]:
    """Each query's documents among the top_k chunks after the per-document cap."""
    out: dict[str, dict[str, float]] = {}
    for q, items in ranked.items():
        docs: dict[str, float] = {}
        for r in cap_per_document(items, cap)[:top_k]:
            d = beir_id[r.chunk.document_id]
            docs[d] = max(docs.get(d, float("-inf")), float(r.score))
        out[q] = docs
    return out


def _engine_latency(session: EvalSession, depths: Sequence[int], sample: int) -> dict[int, float]:
    """Median engine search time (ms, both engines in parallel) per depth, on a query sample."""
    qids = session.qids[:: max(1, len(session.qids) // sample)][:sample]
    retriever = session.retriever(EvalConfig(name="latency"))
    out: dict[int, float] = {}
    for depth in depths:
        times: list[float] = []
        for q in qids:
            t0 = time.perf_counter()
            retriever.retrieve(
                session.dataset.queries[q], session.filter, query_vector=session.query_vectors[q], depth=depth
            )
            times.append((time.perf_counter() - t0) * 1000)
        out[depth] = float(np.median(times)) if times else 0.0
    return out


def run_sweep(
    dataset: BeirDataset,
    *,
    settings: Settings | None = None,
    grid: SweepSettings | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    session: EvalSession | None = None,
    latency_sample: int = LATENCY_SAMPLE,
) -> SweepResult:
    """Evaluate every grid point on ``dataset`` (a tuning split) and rank them.

    ``settings`` gives the base retrieval settings (their point is always in the grid and marked
    ``current``), the embedding model and the backend; ``grid`` defaults to
    ``settings.evaluation.sweep``. ``session`` reuses an indexed dataset (it is not closed).
    """
    settings = settings or Settings()
    grid = grid or settings.evaluation.sweep
    if grid.metric not in METRICS:
        raise ConfigurationError(
            f"evaluation.sweep.metric {grid.metric!r} is not a measured metric: "
            f"use one of {', '.join(METRICS)}"
        )
    check_tuning_split(dataset.split, force=force)
    say = progress or (lambda _msg: None)
    base = settings.retrieval
    points = sweep_points(grid, base)
    t_start = time.perf_counter()
    owned = session is None
    s = session or EvalSession(dataset, settings=settings, progress=say)
    try:
        index_s = time.perf_counter() - t_start
        depths = sorted({p.config.candidates for p in points})
        t0 = time.perf_counter()
        s.engine_hits(max(depths))
        fetch_s = time.perf_counter() - t0
        engine_ms = _engine_latency(s, depths, latency_sample)
        qrels = s.dataset.qrels
        # Group points that share a ranking (they differ only in the cap): one rank pass each.
        groups: dict[EvalConfig, list[tuple[int, SweepPoint]]] = {}
        for i, p in enumerate(points):
            groups.setdefault(p.config, []).append((i, p))
        # Warm the reranker caches (sentence vectors) before anything is timed.
        for reranker in dict.fromkeys(c.reranker for c in groups if c.reranker != "none"):
            warm = EvalConfig(
                name="warm", candidates=max(depths), reranker=reranker, rerank_depth=base.rerank_depth
            )
            say(f"{dataset.name}: warming reranker {reranker}")
            r = s.retriever(warm)
            hits = s.engine_hits(warm.candidates)
            for q in s.qids:
                r.rank(s.dataset.queries[q], hits[q], as_of=EVAL_AS_OF)
        measured: list[tuple[int, SweepPoint, dict[str, float], float, float, float]] = []
        t0 = time.perf_counter()
        for n, (cfg, members) in enumerate(groups.items(), start=1):
            hits = s.engine_hits(cfg.candidates)
            retriever = s.retriever(cfg)
            ranked: dict[str, list[RetrievedChunk]] = {}
            times: list[float] = []
            for q in s.qids:
                t1 = time.perf_counter()
                ranked[q] = retriever.rank(s.dataset.queries[q], hits[q], as_of=EVAL_AS_OF)
                times.append((time.perf_counter() - t1) * 1000)
            metrics = evaluate(qrels, s.document_run(dict(ranked)))
            rank_ms = float(np.median(times)) if times else 0.0
            for i, p in members:
                window = _window_run(ranked, s.index.beir_id, p.per_document_cap, base.top_k)
                rows = per_query(qrels, window)
                recall = float(np.mean([r["recall@100"] for r in rows.values()])) if rows else 0.0
                docs = float(np.mean([len(d) for d in window.values()])) if window else 0.0
                measured.append((i, p, metrics, recall, docs, rank_ms))
            if n % 10 == 0 or n == len(groups):
                say(f"{dataset.name}: {n}/{len(groups)} rankings ({len(measured)} points)")
        grid_s = time.perf_counter() - t0
        current = current_point(base)
        # Best first: the metric, then window recall. On a tie the current settings win (a change
        # must earn its place), then no reranker, then the shallower depth (both cheaper), then
        # grid order. No measured time in the key: it would make two runs disagree.
        measured.sort(
            key=lambda t: (
                -round(t[2][grid.metric], 6),
                -round(t[3], 6),
                t[1] != current,
                t[1].config.reranker != "none",
                t[1].config.candidates,
                t[0],
            )
        )
        rows_out: list[SweepRow] = []
        for rank, (_i, p, metrics, recall, docs, rank_ms) in enumerate(measured, start=1):
            c = p.config
            rows_out.append(
                SweepRow(
                    rank=rank,
                    label=p.label,
                    fusion=c.fusion.value,
                    rrf_k=c.rrf_k,
                    dense_weight=c.dense_weight,
                    normalization=c.normalization.value,
                    candidates=c.candidates,
                    reranker=c.reranker,
                    per_document_cap=p.per_document_cap,
                    metrics={k: round(v, 4) for k, v in metrics.items()},
                    window_recall=round(recall, 4),
                    window_documents=round(docs, 2),
                    rank_ms_p50=round(rank_ms, 3),
                    engine_ms_p50=round(engine_ms[c.candidates], 3),
                    latency_ms_p50=round(rank_ms + engine_ms[c.candidates], 3),
                    loadable=p.loadable,
                    current=p == current,
                    retrieval=p.retrieval_fields(),
                )
            )
        return SweepResult(
            dataset=dataset.name,
            split=dataset.split,
            metric=grid.metric,
            queries=len(s.qids),
            documents=len(dataset.corpus),
            chunks=len(s.index.chunks),
            rows=tuple(rows_out),
            wall_s=round(time.perf_counter() - t_start, 2),
            timing={
                "index_s": round(index_s, 2),
                "fetch_s": round(fetch_s, 2),
                "grid_s": round(grid_s, 2),
                "embedded_now": s.index.timings_s.get("embedded_now", 0.0),
            },
            grid=grid.model_dump(mode="json"),
            finished_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    finally:
        if owned:
            s.close()
