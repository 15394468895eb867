"""Fusion: hand-computed RRF and weighted scores, floors for missing keys, determinism."""

from __future__ import annotations

import math
import random

import pytest

from retrieval.fusion import Normalization, normalize, reciprocal_rank_fusion, weighted_fusion


def test_rrf_matches_hand_computation() -> None:
    runs = {"bm25": [("a", 9.0), ("b", 5.0)], "dense": [("b", 0.9), ("c", 0.8)]}
    fused = reciprocal_rank_fusion(runs, k=60)
    scores = {f.key: f.score for f in fused}
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["c"] == pytest.approx(1 / 62)
    assert [f.key for f in fused] == ["b", "a", "c"]
    assert [f.rank for f in fused] == [1, 2, 3]


def test_weighted_minmax_with_floor_for_missing() -> None:
    runs = {"bm25": [("a", 10.0), ("b", 6.0), ("c", 2.0)], "dense": [("c", 0.9), ("d", 0.5)]}
    fused = weighted_fusion(runs, {"bm25": 0.5, "dense": 0.5})
    scores = {f.key: f.score for f in fused}
    assert scores["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    assert scores["b"] == pytest.approx(0.5 * 0.5)
    assert scores["c"] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    assert scores["d"] == pytest.approx(0.0)


def test_zscore_floor_is_lowest_z() -> None:
    z, floor = normalize([3.0, 1.0], Normalization.ZSCORE)
    assert z == pytest.approx([1.0, -1.0])
    assert floor == pytest.approx(-1.0)
    runs = {"bm25": [("a", 3.0), ("b", 1.0)], "dense": [("c", 0.7), ("a", 0.1)]}
    fused = weighted_fusion(runs, {"bm25": 1.0, "dense": 1.0}, normalization=Normalization.ZSCORE)
    scores = {f.key: f.score for f in fused}
    assert scores["c"] == pytest.approx(-1.0 + 1.0)
    assert scores["a"] == pytest.approx(1.0 - 1.0)
    assert scores["b"] == pytest.approx(-1.0 - 1.0)


def test_constant_lists_do_not_divide_by_zero() -> None:
    assert normalize([2.0, 2.0], Normalization.MINMAX) == ([1.0, 1.0], 0.0)
    assert normalize([2.0, 2.0], Normalization.ZSCORE) == ([0.0, 0.0], 0.0)
    assert normalize([], Normalization.MINMAX) == ([], 0.0)


@pytest.mark.parametrize("method", ["rrf", "minmax", "zscore"])
def test_fusion_is_deterministic_under_input_order_and_ties(method: str) -> None:
    rng = random.Random(7)
    keys = [f"k{i:02d}" for i in range(40)]
    bm25 = [(k, float(rng.randint(1, 5))) for k in keys[:30]]  # many ties
    dense = [(k, round(rng.random(), 1)) for k in keys[10:]]
    bm25.sort(key=lambda kv: -kv[1])
    dense.sort(key=lambda kv: -kv[1])

    def fuse(order: list[str]) -> list[tuple[str, float]]:
        runs = {name: {"bm25": bm25, "dense": dense}[name] for name in order}
        if method == "rrf":
            out = reciprocal_rank_fusion(runs, k=60)
        else:
            out = weighted_fusion(runs, {"bm25": 0.5, "dense": 0.5}, normalization=Normalization(method))
        return [(f.key, f.score) for f in out]

    first = fuse(["bm25", "dense"])
    for _ in range(5):
        assert fuse(["dense", "bm25"]) == first
        assert fuse(["bm25", "dense"]) == first
    scores = [s for _, s in first]
    assert scores == sorted(scores, reverse=True)
    assert all(math.isfinite(s) for s in scores)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_rank_fusion({}, k=0)
    with pytest.raises(ValueError, match=">= 0"):
        weighted_fusion({}, {"bm25": -1.0})


def test_settings_choose_the_normalization(monkeypatch: pytest.MonkeyPatch) -> None:
    """``retrieval.normalization`` reaches the service's fusion and the evaluation's config."""
    from core.settings import load_settings
    from retrieval.evaluation.stages import config_from_settings
    from retrieval.hybrid import FusionConfig

    assert load_settings().retrieval.normalization is Normalization.MINMAX
    monkeypatch.setenv("GW_RETRIEVAL__NORMALIZATION", "zscore")
    retrieval = load_settings().retrieval
    assert FusionConfig.from_settings(retrieval).normalization is Normalization.ZSCORE
    assert config_from_settings(retrieval).normalization is Normalization.ZSCORE
    # the two normalizations rank this pair of lists differently, so the choice matters
    runs = {"bm25": [("a", 10.0), ("b", 9.0), ("c", 0.0)], "dense": [("c", 0.9), ("b", 0.5), ("a", 0.4)]}
    orders = {
        n: [f.key for f in weighted_fusion(runs, {"bm25": 0.5, "dense": 0.5}, normalization=n)]
        for n in Normalization
    }
    assert orders[Normalization.MINMAX] != orders[Normalization.ZSCORE]
