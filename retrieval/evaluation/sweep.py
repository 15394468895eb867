"""The tuning sweep: a grid over fusion, candidate depth, reranker, per-document cap and chunk size.

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

**Chunk size** (``evaluation.sweep.chunk_max_tokens``, empty by default) is the one dimension that
is not a replay: each size re-chunks the corpus (:class:`~retrieval.evaluation.indexing.DocumentChunker`,
the pipeline's rule), embeds the new chunks (through the embedding cache: a size seen before costs
nothing, a new one costs embedding the whole corpus once) and indexes them into fresh stores, then
sweeps the whole grid on that index. The current ``chunking.max_tokens`` is always one of the sizes
(its index is the one the sweep builds anyway). Each row records the size it was measured at; a
winner from a swept size also writes ``[chunking] max_tokens`` (and the overlap it was measured
with) into the recommendation, which applies to an index only after ``groundwork ingest --full``.

Sweeps run on tuning splits only: :func:`check_tuning_split` refuses ``test`` unless forced,
since tuning on the split you report overfits the figure. The winner is written as a settings
file with a ``[retrieval]`` table (and ``[chunking]`` when chunk sizes were swept;
:func:`recommended_toml`) that ``GW_CONFIG_FILE`` loads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import ConfigurationError
from core.settings import ChunkingSettings, FusionMethod, RetrievalSettings, Settings, SweepSettings
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
    """One grid point: an evaluation configuration plus the per-document cap, and the chunk size
    when the sweep varies it (None: the settings' chunking, not swept)."""

    model_config = ConfigDict(frozen=True)

    config: EvalConfig
    per_document_cap: int
    chunk_max_tokens: int | None = None

    @property
    def label(self) -> str:
        c = self.config
        if c.fusion is FusionMethod.RRF:
            fusion = f"rrf k={c.rrf_k}"
        else:
            fusion = f"{c.normalization.value} w={c.dense_weight}"
        chunks = f" chunks={self.chunk_max_tokens}" if self.chunk_max_tokens is not None else ""
        return f"{fusion} n={c.candidates} {c.reranker} cap={self.per_document_cap}{chunks}"

    @property
    def loadable(self) -> bool:
        """Whether ``[retrieval]`` settings can express this point.

        Since ``retrieval.normalization`` exists every point is; the check stays so that a
        settings version without that field never gets a z-score point recommended as min-max.
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
    chunk_max_tokens: int | None = None  # chunking.max_tokens of the index the point ran on
    chunks: int = 0  # how many chunks that index held
    metrics: dict[str, float]
    window_recall: float
    window_documents: float
    rank_ms_p50: float
    engine_ms_p50: float
    latency_ms_p50: float
    loadable: bool
    current: bool
    retrieval: dict[str, object]
    chunking: dict[str, object] = {}  # the [chunking] fields, when the sweep varied the chunk size


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

    def recommended_chunking(self, base: ChunkingSettings | None = None) -> ChunkingSettings:
        """``base`` with the winner's chunk size (``base`` itself when sizes were not swept)."""
        base = base or ChunkingSettings()
        return ChunkingSettings.model_validate({**base.model_dump(), **self.best.chunking})


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
    if b.chunking:
        lines += [
            "",
            "# A new chunk size reaches an index only through `groundwork ingest --full`, which",
            "# re-chunks and re-embeds every document.",
            "[chunking]",
        ]
        lines += [f"{k} = {_toml_value(v)}" for k, v in b.chunking.items()]
    return "\n".join(lines) + "\n"


def write_recommended(result: SweepResult, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(recommended_toml(result), encoding="utf-8")
    return path


def current_point(base: RetrievalSettings, chunk_max_tokens: int | None = None) -> SweepPoint:
    """The grid point ``base`` describes (what the service runs with these settings);
    ``chunk_max_tokens``: the current chunk size, when the sweep varies it."""
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
        chunk_max_tokens=chunk_max_tokens,
    )


def chunk_sizes(grid: SweepSettings, chunking: ChunkingSettings) -> tuple[int | None, ...]:
    """The chunk sizes swept, current first; ``(None,)`` when the grid does not vary them."""
    if not grid.chunk_max_tokens:
        return (None,)
    return tuple(dict.fromkeys((chunking.max_tokens, *grid.chunk_max_tokens)))


def sweep_points(
    grid: SweepSettings, base: RetrievalSettings, chunking: ChunkingSettings | None = None
) -> list[SweepPoint]:
    """Every grid point (fusion variant x depth x reranker x cap, at each chunk size), plus the
    point of the ``base`` settings (at the current chunk size, ``chunking``)."""
    chunking = chunking or ChunkingSettings()
    sizes = chunk_sizes(grid, chunking)
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
                points += [
                    SweepPoint(config=cfg, per_document_cap=cap, chunk_max_tokens=size)
                    for size in sizes
                    for cap in grid.per_document_cap
                ]
    points.sort(key=lambda p: sizes.index(p.chunk_max_tokens))  # stable: grid order per size
    current = current_point(base, sizes[0])
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


@dataclass(frozen=True)
class _Measured:
    """One point's measurements (before ranking)."""

    order: int  # position in the grid: the last tie-break
    point: SweepPoint
    metrics: dict[str, float]
    window_recall: float
    window_documents: float
    rank_ms: float
    engine_ms: float
    chunks: int


def _chunked_settings(settings: Settings, size: int) -> Settings:
    """``settings`` with ``chunking.max_tokens = size`` (the overlap kept)."""
    try:
        chunking = ChunkingSettings(max_tokens=size, overlap_tokens=settings.chunking.overlap_tokens)
    except ValidationError:
        raise ConfigurationError(
            f"evaluation.sweep.chunk_max_tokens: {size} tokens is not above chunking.overlap_tokens "
            f"({settings.chunking.overlap_tokens}): drop that size or lower chunking.overlap_tokens"
        ) from None
    return settings.model_copy(update={"chunking": chunking})


def _check_chunk_sizes(sizes: Sequence[int | None], window: int) -> None:
    """Refuse sizes that would chunk exactly like another one (the model window caps them all)."""
    seen: dict[int, int] = {}
    for size in sizes:
        if size is None:
            continue
        effective = min(size, window)
        if effective in seen:
            raise ConfigurationError(
                f"evaluation.sweep.chunk_max_tokens: {size} tokens chunks exactly like {seen[effective]} "
                f"(the embedding model encodes at most {window} tokens): drop one of them"
            )
        seen[effective] = size


def _measure(
    s: EvalSession,
    members: list[tuple[int, SweepPoint]],
    base: RetrievalSettings,
    latency_sample: int,
    say: Callable[[str], None],
    timing: dict[str, float],
) -> list[_Measured]:
    """Every point of ``members`` on one indexed corpus (one chunk size); adds to ``timing``."""
    name = s.dataset.name
    depths = sorted({p.config.candidates for _i, p in members})
    t0 = time.perf_counter()
    s.engine_hits(max(depths))
    timing["fetch_s"] = timing.get("fetch_s", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    engine_ms = _engine_latency(s, depths, latency_sample)
    qrels = s.dataset.qrels
    # Group points that share a ranking (they differ only in the cap): one rank pass each.
    groups: dict[EvalConfig, list[tuple[int, SweepPoint]]] = {}
    for i, p in members:
        groups.setdefault(p.config, []).append((i, p))
    # Warm the reranker caches (sentence vectors) before anything is timed.
    for reranker in dict.fromkeys(c.reranker for c in groups if c.reranker != "none"):
        warm = EvalConfig(
            name="warm", candidates=max(depths), reranker=reranker, rerank_depth=base.rerank_depth
        )
        say(f"{name}: warming reranker {reranker}")
        r = s.retriever(warm)
        hits = s.engine_hits(warm.candidates)
        for q in s.qids:
            r.rank(s.dataset.queries[q], hits[q], as_of=EVAL_AS_OF)
    measured: list[_Measured] = []
    for n, (cfg, group) in enumerate(groups.items(), start=1):
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
        for i, p in group:
            window = _window_run(ranked, s.index.beir_id, p.per_document_cap, base.top_k)
            rows = per_query(qrels, window)
            recall = float(np.mean([r["recall@100"] for r in rows.values()])) if rows else 0.0
            docs = float(np.mean([len(d) for d in window.values()])) if window else 0.0
            engine = engine_ms[cfg.candidates]
            measured.append(_Measured(i, p, metrics, recall, docs, rank_ms, engine, len(s.index.chunks)))
        if n % 10 == 0 or n == len(groups):
            say(f"{name}: {n}/{len(groups)} rankings ({len(measured)} points)")
    timing["grid_s"] = timing.get("grid_s", 0.0) + time.perf_counter() - t0
    return measured


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
    ``current``), the chunking, the embedding model and the backend; ``grid`` defaults to
    ``settings.evaluation.sweep``. ``session`` reuses an indexed dataset (it is not closed; it
    must be chunked with ``settings.chunking``); every other chunk size of the grid is indexed
    here, one at a time, and closed after its points are measured.
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
    sizes = chunk_sizes(grid, settings.chunking)
    rechunked = {size: _chunked_settings(settings, size) for size in sizes[1:] if size is not None}
    points = sweep_points(grid, base, settings.chunking)
    by_size: dict[int | None, list[tuple[int, SweepPoint]]] = {}
    for i, p in enumerate(points):
        by_size.setdefault(p.chunk_max_tokens, []).append((i, p))
    t_start = time.perf_counter()
    owned = session is None
    s = session or EvalSession(dataset, settings=settings, progress=say)
    try:
        index_s = time.perf_counter() - t_start
        _check_chunk_sizes(sizes, s.embedder.max_tokens)
        timing = {"index_s": index_s, "rechunk_s": 0.0, "fetch_s": 0.0, "grid_s": 0.0}
        embedded_now = s.index.timings_s.get("embedded_now", 0.0)
        measured = _measure(s, by_size.pop(sizes[0]), base, latency_sample, say, timing)
        for size, members in by_size.items():
            assert size is not None
            say(f"{dataset.name}: re-chunking at {size} tokens (new chunks are embedded)")
            t0 = time.perf_counter()
            with EvalSession(dataset, settings=rechunked[size], embedder=s.embedder, progress=say) as other:
                timing["rechunk_s"] += time.perf_counter() - t0
                embedded_now += other.index.timings_s.get("embedded_now", 0.0)
                measured += _measure(other, members, base, latency_sample, say, timing)
        current = current_point(base, sizes[0])
        # Best first: the metric, then window recall. On a tie the current settings win (a change
        # must earn its place), then the current chunk size (another one means re-embedding the
        # corpus), then no reranker, then the shallower depth (both cheaper), then grid order.
        # No measured time in the key: it would make two runs disagree.
        measured.sort(
            key=lambda m: (
                -round(m.metrics[grid.metric], 6),
                -round(m.window_recall, 6),
                m.point != current,
                m.point.chunk_max_tokens != sizes[0],
                m.point.config.reranker != "none",
                m.point.config.candidates,
                m.order,
            )
        )
        overlap = settings.chunking.overlap_tokens
        rows_out: list[SweepRow] = []
        for rank, m in enumerate(measured, start=1):
            p, c = m.point, m.point.config
            size = p.chunk_max_tokens
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
                    chunk_max_tokens=size if size is not None else settings.chunking.max_tokens,
                    chunks=m.chunks,
                    metrics={k: round(v, 4) for k, v in m.metrics.items()},
                    window_recall=round(m.window_recall, 4),
                    window_documents=round(m.window_documents, 2),
                    rank_ms_p50=round(m.rank_ms, 3),
                    engine_ms_p50=round(m.engine_ms, 3),
                    latency_ms_p50=round(m.rank_ms + m.engine_ms, 3),
                    loadable=p.loadable,
                    current=p == current,
                    retrieval=p.retrieval_fields(),
                    chunking={"max_tokens": size, "overlap_tokens": overlap} if size is not None else {},
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
            timing={**{k: round(v, 2) for k, v in timing.items()}, "embedded_now": embedded_now},
            grid=grid.model_dump(mode="json"),
            finished_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    finally:
        if owned:
            s.close()
