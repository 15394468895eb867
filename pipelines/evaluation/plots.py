"""PNG plots for the evaluation assets' metadata (matplotlib, Agg backend: no display needed).

Each function returns PNG bytes; :func:`markdown_image` embeds them in Markdown as a data URI,
which the Dagster UI renders inline in an asset's metadata (``dg.MetadataValue.md``). The same
bytes are written next to the asset's other outputs so they can be opened outside the UI.
"""

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on a server or in CI

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from retrieval.evaluation.stages import RetrievalEvaluation
from retrieval.evaluation.sweep import SweepResult, SweepRow

DPI = 90
STAGE_METRICS = ("ndcg@10", "recall@10", "mrr@10")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that shows ``png`` inline (a base64 data URI)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def stage_comparison(evaluation: RetrievalEvaluation, title: str) -> bytes:
    """Grouped bars: nDCG@10, recall@10 and MRR@10 for each stage (BM25, dense, fused, reranked)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    stages = list(evaluation.stages)
    width = 0.8 / len(STAGE_METRICS)
    for i, metric in enumerate(STAGE_METRICS):
        values = [evaluation.stage_metrics[s][metric] for s in stages]
        xs = [n + (i - (len(STAGE_METRICS) - 1) / 2) * width for n in range(len(stages))]
        bars = ax.bar(xs, values, width, label=metric)
        if metric == "ndcg@10":
            ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(range(len(stages)), stages)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"{title}: per-stage quality ({evaluation.queries} queries)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def score_distribution(evaluation: RetrievalEvaluation, title: str) -> bytes:
    """Histograms of final document scores: judged-relevant documents against the others."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    rel, other = list(evaluation.relevant_scores), list(evaluation.other_scores)
    values = rel + other
    if values:
        lo, hi = min(values), max(values)
        bins = [lo + (hi - lo) * i / 30 for i in range(31)] if hi > lo else 10
        if other:
            ax.hist(other, bins=bins, alpha=0.6, density=True, label=f"other documents ({len(other)})")
        if rel:
            ax.hist(rel, bins=bins, alpha=0.6, density=True, label=f"relevant documents ({len(rel)})")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"final score ({evaluation.stages[-1]} stage, top documents per query)")
    ax.set_ylabel("density")
    ax.set_title(f"{title}: score distribution", fontsize=10)
    return _png(fig)


def _fusion_label(r: SweepRow) -> str:
    return f"rrf k={r.rrf_k}" if r.fusion == "rrf" else f"{r.normalization} w={r.dense_weight}"


SETTINGS: tuple[tuple[str, str], ...] = (
    ("fusion", "fusion"),
    ("candidates", "candidate depth"),
    ("reranker", "reranker"),
    ("per_document_cap", "per-document cap"),
)


def _value(r: SweepRow, setting: str) -> str:
    return _fusion_label(r) if setting == "fusion" else str(getattr(r, setting))


def sweep_by_setting(result: SweepResult) -> bytes:
    """The metric against each setting: every point as a dot, the best per value as a bar."""
    metric = result.metric
    fig, axes = plt.subplots(2, 2, figsize=(9.6, 6.4))
    best = result.best
    for ax, (setting, label) in zip(axes.flat, SETTINGS, strict=True):
        values = list(dict.fromkeys(_value(r, setting) for r in result.rows))
        if setting != "fusion":
            values.sort(key=lambda v: (len(v), v))
        tops = [max(r.metrics[metric] for r in result.rows if _value(r, setting) == v) for v in values]
        ax.bar(range(len(values)), tops, color="#cfd8e3", label="best point")
        for n, v in enumerate(values):
            ys = [r.metrics[metric] for r in result.rows if _value(r, setting) == v]
            ax.scatter([n] * len(ys), ys, s=8, color="#4a6fa5", alpha=0.6, zorder=3)
        win = values.index(_value(best, setting))
        ax.scatter([win], [best.metrics[metric]], s=60, marker="*", color="#d1495b", zorder=4, label="winner")
        lo = min(r.metrics[metric] for r in result.rows)
        hi = max(r.metrics[metric] for r in result.rows)
        pad = max((hi - lo) * 0.15, 0.005)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xticks(range(len(values)), values, rotation=45 if setting == "fusion" else 0, fontsize=7)
        ax.set_title(label, fontsize=9)
        ax.set_ylabel(metric, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(
        f"{result.dataset} ({result.split}): {metric} by setting, {len(result.rows)} points", fontsize=10
    )
    return _png(fig)


def sweep_quality_latency(result: SweepResult) -> bytes:
    """Quality against latency (engine search at the point's depth + fusion/rerank), per reranker."""
    metric = result.metric
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    rerankers: Sequence[str] = list(dict.fromkeys(r.reranker for r in result.rows))
    for reranker in rerankers:
        rows = [r for r in result.rows if r.reranker == reranker]
        ax.scatter(
            [r.latency_ms_p50 for r in rows],
            [r.metrics[metric] for r in rows],
            s=12,
            alpha=0.7,
            label=reranker,
        )
    b = result.best
    ax.scatter([b.latency_ms_p50], [b.metrics[metric]], s=120, marker="*", color="#d1495b", zorder=4)
    ax.annotate(
        f"winner: {b.label}",
        (b.latency_ms_p50, b.metrics[metric]),
        fontsize=7,
        xytext=(5, 5),
        textcoords="offset points",
    )
    cur = result.current
    if cur is not None and cur is not b:
        ax.scatter(
            [cur.latency_ms_p50],
            [cur.metrics[metric]],
            s=60,
            marker="D",
            facecolors="none",
            edgecolors="black",
            zorder=4,
        )
        ax.annotate(
            "current settings",
            (cur.latency_ms_p50, cur.metrics[metric]),
            fontsize=7,
            xytext=(5, -10),
            textcoords="offset points",
        )
    ax.set_xlabel("latency p50 (ms, query embedding excluded)")
    ax.set_ylabel(metric)
    ax.set_title(f"{result.dataset} ({result.split}): quality vs latency", fontsize=10)
    ax.legend(title="reranker", fontsize=7, title_fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)
