"""Threshold choice for "evidence too weak", and evaluation configuration resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.settings import FusionMethod, RetrievalSettings
from retrieval.evaluation.calibration import auc, choose_threshold, error_rates, threshold_at_refusal
from retrieval.evaluation.configs import Engines, named_configs, resolve_config


def test_separable_scores_give_a_perfect_threshold() -> None:
    pos, neg = [0.8, 0.7, 0.9], [0.1, 0.2, 0.3]
    choice = choose_threshold(pos, neg)
    assert 0.3 < choice.threshold < 0.7
    assert (choice.false_refusal, choice.false_answer, choice.balanced_accuracy) == (0.0, 0.0, 1.0)
    assert auc(pos, neg) == 1.0


def test_refusal_rule_refuses_at_most_the_allowed_share() -> None:
    pos = [i / 10 for i in range(1, 11)]  # 0.1 .. 1.0
    neg = [0.05, 0.35]
    choice = threshold_at_refusal(pos, neg, max_refusal=0.2)
    assert choice.threshold == pytest.approx(0.3)
    assert error_rates(pos, neg, choice.threshold) == (pytest.approx(0.2), pytest.approx(0.5))
    assert choice.false_refusal <= 0.2


def test_named_configs_and_default_follow_settings() -> None:
    configs = named_configs()
    assert {"bm25", "dense", "hybrid-rrf", "hybrid-weighted", "hybrid+maxsim", "default"} <= set(configs)
    d = configs["default"]
    s = RetrievalSettings()
    assert (d.fusion, d.dense_weight, d.reranker, d.candidates) == (
        s.fusion,
        s.dense_weight,
        s.reranker,
        s.candidates,
    )
    assert configs["bm25"].engines is Engines.BM25
    assert configs["hybrid-rrf"].fusion is FusionMethod.RRF
    assert resolve_config("hybrid+maxsim:0.7").reranker == "maxsim:0.7"


def test_config_files_and_errors(tmp_path: Path) -> None:
    yml = tmp_path / "x.yaml"
    yml.write_text("name: mine\nbase: hybrid-rrf\nrrf_k: 20\n")
    cfg = resolve_config(str(yml))
    assert (cfg.name, cfg.fusion, cfg.rrf_k) == ("mine", FusionMethod.RRF, 20)
    bad = tmp_path / "bad.toml"
    bad.write_text("dense_weight = 3.0\n")
    with pytest.raises(ConfigurationError, match="invalid evaluation configuration"):
        resolve_config(str(bad))
    with pytest.raises(ConfigurationError, match="does not exist"):
        resolve_config(str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match="unknown configuration"):
        resolve_config("fastest")
