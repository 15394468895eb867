"""Fusing ranked lists from BM25 and dense search into one ranking.

Two families, both measured on the shared datasets (docs/benchmarks.md, "Retrieval quality"):

- **Reciprocal rank fusion** (Cormack et al. 2009): ``sum(1 / (k + rank))``. Uses ranks only,
  so it needs no score calibration; ``k`` damps the head of each list.
- **Weighted combination of normalized scores** (a convex combination): BM25 and cosine scores
  live on different scales, so each list is normalized first, by min-max (the list's own range)
  or z-score (mean and spread). A chunk that one engine did not return gets that engine's
  floor (0 for min-max, the lowest z seen for z-score): it was below that engine's cut-off.

Fusion is deterministic: equal fused scores are ordered by the best rank any engine gave the
key, then by the key itself, so a run never depends on dict or thread order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.settings import FusionNormalization as Normalization

RankedList = Sequence[tuple[str, float]]
"""(key, score) pairs in rank order: the best first."""


__all__ = ["Fused", "Normalization", "RankedList", "normalize", "reciprocal_rank_fusion", "weighted_fusion"]


@dataclass(frozen=True, slots=True)
class Fused:
    """A key's fused score and 1-based fused rank."""

    key: str
    score: float
    rank: int


def _order(scores: Mapping[str, float], runs: Mapping[str, RankedList]) -> list[Fused]:
    best_rank: dict[str, int] = {}
    for ranked in runs.values():
        for i, (key, _) in enumerate(ranked, start=1):
            if i < best_rank.get(key, math.inf):
                best_rank[key] = i
    keys = sorted(scores, key=lambda k: (-scores[k], best_rank.get(k, 0), k))
    return [Fused(key, scores[key], rank) for rank, key in enumerate(keys, start=1)]


def reciprocal_rank_fusion(
    runs: Mapping[str, RankedList], *, k: int = 60, weights: Mapping[str, float] | None = None
) -> list[Fused]:
    """RRF over any number of ranked lists; ``weights`` scale each list's contribution."""
    if k < 1:
        raise ValueError(f"rrf k must be >= 1, got {k}")
    scores: dict[str, float] = {}
    for name, ranked in runs.items():
        w = 1.0 if weights is None else weights.get(name, 0.0)
        for rank, (key, _) in enumerate(ranked, start=1):
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return _order(scores, runs)


def normalize(scores: Sequence[float], method: Normalization) -> tuple[list[float], float]:
    """Normalized scores and the floor given to keys absent from the list."""
    if not scores:
        return [], 0.0
    if method is Normalization.MINMAX:
        lo, hi = min(scores), max(scores)
        if hi - lo <= 1e-12:
            return [1.0] * len(scores), 0.0
        return [(s - lo) / (hi - lo) for s in scores], 0.0
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    if std <= 1e-12:
        return [0.0] * len(scores), 0.0
    z = [(s - mean) / std for s in scores]
    return z, min(z)


def weighted_fusion(
    runs: Mapping[str, RankedList],
    weights: Mapping[str, float],
    *,
    normalization: Normalization = Normalization.MINMAX,
) -> list[Fused]:
    """Convex combination of per-list normalized scores (weights need not sum to one)."""
    if any(w < 0 for w in weights.values()):
        raise ValueError("fusion weights must be >= 0")
    normalized: dict[str, dict[str, float]] = {}
    floors: dict[str, float] = {}
    for name, ranked in runs.items():
        values, floor = normalize([s for _, s in ranked], normalization)
        normalized[name] = {key: v for (key, _), v in zip(ranked, values, strict=True)}
        floors[name] = floor
    keys = {key for ranked in runs.values() for key, _ in ranked}
    scores = {
        key: sum(weights.get(name, 0.0) * normalized[name].get(key, floors[name]) for name in runs)
        for key in keys
    }
    return _order(scores, runs)
