"""Metrics come from pytrec_eval; these check our wiring against values computed by hand."""

from __future__ import annotations

import math

import pytest

from retrieval.evaluation.metrics import evaluate, per_query, truncate


def test_hand_computed_values() -> None:
    qrels = {"q1": {"d1": 1, "d3": 1}, "q2": {"d9": 1}}
    run = {"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "q2": {"d5": 1.0}}
    rows = per_query(qrels, run)
    idcg = 1 + 1 / math.log2(3)
    assert rows["q1"]["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / idcg)
    assert rows["q1"]["mrr@10"] == pytest.approx(1.0)
    assert rows["q1"]["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert rows["q1"]["recall@10"] == pytest.approx(1.0)
    assert rows["q2"] == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "map": 0.0, "mrr@10": 0.0}
    means = evaluate(qrels, run)
    assert means["mrr@10"] == pytest.approx(0.5)


def test_a_query_missing_from_the_run_counts_as_zero() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    means = evaluate(qrels, {"q1": {"d1": 1.0}})
    assert means["ndcg@10"] == pytest.approx(0.5)


def test_mrr_is_cut_at_ten() -> None:
    run = {"q": {f"d{i:02d}": 100.0 - i for i in range(20)}}
    qrels = {"q": {"d12": 1}}
    assert per_query(qrels, run)["q"]["mrr@10"] == 0.0
    assert list(truncate(run, 3)["q"]) == ["d00", "d01", "d02"]
