"""The eval CLI on a tiny BEIR dataset written here, with metric values computed by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.embedding import Embedder
from core.errors import ConfigurationError
from retrieval.evaluation.beir import load_beir, merge_splits
from retrieval.evaluation.cli import app
from retrieval.evaluation.configs import resolve_config
from retrieval.evaluation.runner import EvalSession

DOCS = {
    "d1": ("Zebras", "Zebra stripes confuse biting flies in the savanna."),
    "d2": ("Smoothies", "An apple banana smoothie needs yoghurt and ice."),
    "d3": ("Taxes", "The quarterly tax filing deadline is the fifteenth."),
    "d4": ("Fruit salad", "Mango and kiwi make a bright salad."),
}
QUERIES = {"q1": "zebra", "q2": "apple banana", "q3": "unjudged question"}
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q2", "d4", 1), ("q3", "d3", 0)]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in DOCS.items())
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items())
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS)
    )
    return root


def test_loader_keeps_only_queries_with_a_positive_judgment(tiny: Path) -> None:
    ds = load_beir(tiny)
    assert sorted(ds.queries) == ["q1", "q2"]
    assert ds.qrels["q2"] == {"d2": 1, "d4": 1}
    assert len(ds.corpus) == 4


def test_bm25_metrics_match_hand_computation(tiny: Path) -> None:
    result = CliRunner().invoke(app, ["--dataset", str(tiny), "--config", "bm25", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # q1 "zebra": only d1 matches -> perfect. q2 "apple banana": only d2 matches (d4 is relevant
    # but shares no word), so: nDCG@10 = 1 / (1 + 1/log2(3)), recall 1/2, AP 1/2, RR 1.
    ndcg_q2 = 1 / (1 + 1 / math.log2(3))
    m = report["metrics"]
    assert m["ndcg@10"] == pytest.approx((1 + ndcg_q2) / 2, abs=1e-4)
    assert m["recall@10"] == pytest.approx(0.75)
    assert m["recall@100"] == pytest.approx(0.75)
    assert m["mrr@10"] == pytest.approx(1.0)
    assert m["map"] == pytest.approx(0.75)
    assert report["configuration"]["name"] == "bm25"
    assert report["queries"] == 2
    assert report["documents"] == 4
    assert {"index_s", "search_ms_p50", "search_ms_p95"} <= set(report["timing"])


def test_default_config_and_a_toml_file(tiny: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--dataset", str(tiny), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["configuration"]["name"] == "default"
    assert report["metrics"]["recall@100"] == pytest.approx(1.0)  # dense finds d4 too
    toml = tmp_path / "mine.toml"
    toml.write_text('base = "hybrid-weighted"\ndense_weight = 0.7\nreranker = "maxsim:0.3"\n')
    cfg = resolve_config(str(toml))
    assert (cfg.name, cfg.dense_weight, cfg.reranker) == ("mine", 0.7, "maxsim:0.3")
    result = CliRunner().invoke(app, ["--dataset", str(tiny), "--config", str(toml)])
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.stdout


def test_errors_are_messages_not_tracebacks(tiny: Path) -> None:
    result = CliRunner().invoke(app, ["--dataset", str(tiny), "--split", "dev"])
    assert result.exit_code == 2
    assert "no qrels for split 'dev'" in result.output
    result = CliRunner().invoke(app, ["--dataset", str(tiny), "--config", "nonsense"])
    assert result.exit_code == 2
    assert "unknown configuration" in result.output


def test_merged_splits_are_indexed_once_and_scored_like_separate_runs(
    tiny: Path, embedder: Embedder, tmp_path: Path
) -> None:
    (tiny / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq3\td3\t1\n")
    test, train = load_beir(tiny, "test"), load_beir(tiny, "train")
    merged = merge_splits([train, test])
    assert merged.split == "train+test"
    assert sorted(merged.queries) == ["q1", "q2", "q3"]
    splits = {p.split: p.qrels for p in (train, test)}
    for name in ("bm25", "default"):
        config = resolve_config(name)
        with EvalSession(merged, embedder=embedder, workdir=tmp_path) as session:
            together = {r.split: r for r in session.reports(config, splits)}
        for part in (train, test):
            with EvalSession(part, embedder=embedder, workdir=tmp_path) as alone:
                single = alone.evaluate(config)
            assert together[part.split].metrics == single.metrics, (name, part.split)
            assert together[part.split].queries == len(part.queries)
    with pytest.raises(ConfigurationError, match="share query ids"):
        merge_splits([test, test])
