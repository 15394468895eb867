"""The evaluation assets, materialized with Dagster on real engines and the packaged model.

- On tests/fixtures/beir_tiny: the retrieval evaluation's metrics equal values computed by hand
  from the rankings (trec_eval's formulas), and equal ``groundwork eval``'s code path; the
  tuning sweep ranks its grid, writes a settings file, and that file, loaded through
  ``GW_CONFIG_FILE``, changes how the retriever ranks (and scores better on the tuning split).
- On the demo corpus (ingested once for this module): the golden set resolves against the
  manifest (a dangling reference fails the asset and names the item), the golden retrieval and
  answer evaluations materialize, and the hard-rules check passes with zero ACL leaks.
"""

from __future__ import annotations

import math
import shutil
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from core.embedding import Embedder
from core.settings import FusionMethod, Settings, load_settings
from pipelines.evaluation.assets import (
    HARD_RULES_CHECK,
    SWEEP_ASSET,
    build_evaluation_assets,
    evaluate_dataset,
)
from pipelines.resources import GroundworkResource, load_settings_file, register_embedder
from retrieval.evaluation.beir import load_beir
from retrieval.evaluation.runner import EvalSession
from retrieval.evaluation.stages import config_from_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "fixtures" / "beir_tiny"
EXAMPLES = REPO / "examples"

# Pinned, so that a change of the shipped defaults does not move the fixture's rankings.
PINNED = {
    "fusion": "weighted",
    "dense_weight": 0.5,
    "rrf_k": 60,
    "candidates": 100,
    "reranker": "none",
    "per_document_cap": 3,
}
SMALL_GRID = {
    "rrf_k": [10, 60],
    "dense_weights": [0.3, 0.5, 0.7],
    "normalizations": ["minmax"],
    "candidates": [50, 100],
    "rerankers": ["none", "maxsim"],
    "per_document_cap": [1, 3],
}


def tiny_settings(root: Path, embedder: Embedder) -> Settings:
    settings = load_settings(
        backend={"data_dir": str(root / "var")},
        embedding=embedder.settings.model_dump(),
        retrieval=PINNED,
        evaluation={
            "datasets": [{"name": "tiny", "path": str(TINY), "split": "test", "tuning_split": "train"}],
            "sweep": SMALL_GRID,
        },
    )
    register_embedder(settings, embedder)  # the session's model, not a second load
    return settings


def materialization(result: dg.ExecuteInProcessResult, name: str) -> dict[str, Any]:
    [mat] = result.asset_materializations_for_node(name)
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def log2(x: float) -> float:
    return math.log(x, 2)


def ndcg10(ranking: list[str], qrels: Mapping[str, int]) -> float:
    """trec_eval's ndcg_cut_10: gain = relevance grade, discount log2(rank + 1)."""
    dcg = sum(qrels.get(d, 0) / log2(i + 1) for i, d in enumerate(ranking[:10], start=1))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:10]
    idcg = sum(g / log2(i + 1) for i, g in enumerate(ideal, start=1))
    return dcg / idcg


# ---------------------------------------------------------------------------- the tiny BEIR set


@pytest.fixture(scope="module")
def tiny_run(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> tuple[Settings, dg.ExecuteInProcessResult]:
    settings = tiny_settings(tmp_path_factory.mktemp("tiny"), embedder)
    assets = build_evaluation_assets(settings.evaluation.datasets, ingest_tail=None)
    wanted = {"beir_tiny", "beir_tiny_retrieval_eval", SWEEP_ASSET}
    result = dg.materialize(
        [a for a in assets if a.key.to_user_string() in wanted],
        resources={"groundwork": GroundworkResource.for_settings(settings)},
    )
    assert result.success
    return settings, result


def test_fixture_metrics_equal_hand_computed_values(
    tiny_run: tuple[Settings, dg.ExecuteInProcessResult],
) -> None:
    settings, result = tiny_run
    dataset = materialization(result, "beir_tiny")
    assert dataset["documents"] == 10
    assert dataset["test queries"] == 5
    assert dataset["train queries"] == 5

    meta = materialization(result, "beir_tiny_retrieval_eval")
    rows = {
        line.split(",")[0]: line.split(",")
        for line in (
            Path(settings.backend.data_dir) / "evaluation" / "beir_tiny_retrieval_eval" / "per_query.csv"
        )
        .read_text(encoding="utf-8")
        .splitlines()[1:]
    }
    assert set(rows) == {"q6", "q7", "q8", "q9", "q10"}
    ds = load_beir(TINY, "test")
    with EvalSession(ds, settings=settings) as session:
        ev = evaluate_dataset(session, settings, name="tiny")
        # the same code path as `groundwork eval` (EvalSession.evaluate) gives the same figures
        assert session.evaluate(config_from_settings(settings.retrieval)).metrics == ev.metrics
    ranking = {r.query_id: list(r.ranking) for r in ev.rows}
    # The rankings the engines give (deterministic): q8's only relevant document (the sourdough
    # starter) comes second after the bread-baking one; q10's second relevant one is third.
    assert ranking["q8"][:2] == ["d6", "d5"]
    assert ranking["q10"][0] == "d9"
    assert ranking["q10"][2] == "d10"
    for q in ("q6", "q7", "q9"):  # both relevant documents on top, the grade-2 one first
        top = sorted(ds.qrels[q], key=lambda d: -ds.qrels[q][d])
        assert ranking[q][:2] == top
    # By hand: q6, q7, q9 are ideal (1.0); q8: one relevant at rank 2 -> 1/log2(3);
    # q10: relevant at ranks 1 and 3 -> (1 + 1/log2(4)) / (1 + 1/log2(3)).
    q8 = 1 / log2(3)
    q10 = (1 + 1 / log2(4)) / (1 + 1 / log2(3))
    assert q8 == pytest.approx(0.6309, abs=1e-4)
    assert q10 == pytest.approx(0.9197, abs=1e-4)
    for q in rows:
        assert ndcg10(ranking[q], ds.qrels[q]) == pytest.approx(
            ev.rows[[r.query_id for r in ev.rows].index(q)].metrics["ndcg@10"], abs=1e-4
        )
    assert meta["ndcg@10"] == pytest.approx((3 + q8 + q10) / 5, abs=1e-4)
    # MRR@10: 1/2 for q8, 1 elsewhere; MAP: q8 1/2, q10 (1/1 + 2/3) / 2
    assert meta["mrr@10"] == pytest.approx((4 + 1 / 2) / 5, abs=1e-4)
    assert meta["map"] == pytest.approx((3 + 1 / 2 + (1 + 2 / 3) / 2) / 5, abs=1e-4)
    assert meta["recall@10"] == pytest.approx(1.0)
    # per-stage table and both plots, inline
    assert "| bm25 |" in meta["stages"]
    assert "| dense |" in meta["stages"]
    assert "| fused |" in meta["stages"]
    assert meta["per-stage comparison"].startswith("![per-stage quality](data:image/png;base64,")
    assert meta["score distribution"].startswith("![score distribution](data:image/png;base64,")
    out = Path(settings.backend.data_dir) / "evaluation" / "beir_tiny_retrieval_eval"
    assert (out / "stages.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_writes_a_recommendation_that_changes_retrieval(
    tiny_run: tuple[Settings, dg.ExecuteInProcessResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, result = tiny_run
    meta = materialization(result, SWEEP_ASSET)
    # 2 rrf + 3 weighted fusions x 2 depths x 2 rerankers x 2 caps (the pinned point is on it)
    assert meta["points"] == 5 * 2 * 2 * 2
    assert "| 1 |" in meta["ranked configurations"]
    assert "(current)" in meta["ranked configurations"]
    assert meta["metric by setting"].startswith("![metric by setting](data:image/png;base64,")
    assert meta["quality vs latency"].startswith("![quality vs latency](data:image/png;base64,")
    path = Path(meta["recommended file"])
    assert tomllib.loads(path.read_text(encoding="utf-8")).keys() == {"retrieval"}

    # Round trip: the file loads as settings (GW_CONFIG_FILE) ...
    monkeypatch.delenv("GW_CONFIG_FILE", raising=False)
    loaded = load_settings_file(path)
    pinned = settings.retrieval
    assert loaded.retrieval != pinned
    # ... and changes behaviour: the pinned fusion leaves q3's second relevant document (d6) at
    # rank 7 (nDCG@10 0.8869); the recommendation ranks it higher and scores better on train.
    train = load_beir(TINY, "train")
    base_settings = settings
    tuned_settings = settings.model_copy(update={"retrieval": loaded.retrieval})
    with EvalSession(train, settings=settings) as session:
        base = evaluate_dataset(session, base_settings, name="pinned")
        tuned = evaluate_dataset(session, tuned_settings, name="tuned")
    base_q3 = next(r for r in base.rows if r.query_id == "q3")
    tuned_q3 = next(r for r in tuned.rows if r.query_id == "q3")
    assert base_q3.ranking.index("d6") == 6
    assert tuned_q3.ranking.index("d6") < base_q3.ranking.index("d6")
    assert tuned.metrics["ndcg@10"] > base.metrics["ndcg@10"]
    assert tuned.metrics["ndcg@10"] == pytest.approx(meta["ndcg@10"], abs=1e-4)
    assert (loaded.retrieval.fusion, loaded.retrieval.dense_weight) != (FusionMethod.WEIGHTED, 0.5)


def test_sweep_asset_refuses_a_test_split_unless_forced(tmp_path: Path, embedder: Embedder) -> None:
    settings = load_settings(
        backend={"data_dir": str(tmp_path / "var")},
        embedding=embedder.settings.model_dump(),
        evaluation={"datasets": [{"name": "tiny", "path": str(TINY), "split": "test"}], "sweep": SMALL_GRID},
    )
    register_embedder(settings, embedder)
    [sweep] = [
        a
        for a in build_evaluation_assets(settings.evaluation.datasets, ingest_tail=None)
        if a.key.to_user_string() == SWEEP_ASSET
    ]
    resources = {"groundwork": GroundworkResource.for_settings(settings)}
    # no tuning split configured: nothing to tune on
    result = dg.materialize([sweep], resources=resources, raise_on_error=False)
    assert not result.success
    assert "no evaluation dataset has a tuning split" in str(result.all_events)
    # naming the dataset picks its reported split, which the sweep refuses unless forced
    config = {"ops": {SWEEP_ASSET: {"config": {"dataset": "tiny"}}}}
    result = dg.materialize([sweep], resources=resources, run_config=config, raise_on_error=False)
    assert not result.success
    assert "refusing to tune on the 'test' split" in str(result.all_events)


# ---------------------------------------------------------------------------- the demo corpus


def demo_settings(root: Path, embedder: Embedder, golden: Path) -> Settings:
    """The demo settings without the web source (it needs an HTTP server), on a copy of the corpus."""
    config = tomllib.loads((EXAMPLES / "groundwork.toml").read_text(encoding="utf-8"))
    sources = []
    for source in config["pipeline"]["sources"]:
        if source["kind"] == "web":
            continue
        source = dict(source)
        source["path"] = str(REPO / source["path"])
        sources.append(source)
    settings = load_settings(
        backend={"data_dir": str(root / "data")},
        embedding=embedder.settings.model_dump(),
        pipeline={"sources": sources},
        api={"users_file": str(EXAMPLES / "users.yaml")},
        evaluation={"golden_file": str(golden), "gate": {"enabled": False}},
    )
    register_embedder(settings, embedder)
    return settings


def without_web_items(golden: Path, out: Path) -> Path:
    """The golden set minus the items about the status pages (not ingested here)."""
    raw = yaml.safe_load(golden.read_text(encoding="utf-8"))
    raw["items"] = [i for i in raw["items"] if "status-pages" not in yaml.safe_dump(i)]
    out.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Settings]:
    if not (EXAMPLES / "golden.yaml").is_file():
        pytest.skip("examples/golden.yaml is not there yet")
    from pipelines.ingest import run_ingest

    root = tmp_path_factory.mktemp("demo")
    golden = without_web_items(EXAMPLES / "golden.yaml", root / "golden.yaml")
    settings = demo_settings(root, embedder, golden)
    report = run_ingest(settings, embedder=embedder)
    assert all(s.status == "ok" for s in report.sources), [(s.source_id, s.error) for s in report.sources]
    yield settings
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_golden_assets_materialize_on_the_demo_corpus(demo: Settings) -> None:
    assets = [
        a
        for a in build_evaluation_assets((), ingest_tail=None)
        if a.key.to_user_string().startswith("golden_")
    ]
    result = dg.materialize(assets, resources={"groundwork": GroundworkResource.for_settings(demo)})
    assert result.success
    golden = materialization(result, "golden_set")
    assert golden["items"] > 30
    assert golden["unanswerable items"] >= 5
    assert golden["forbidden items"] >= 5

    retrieval = materialization(result, "golden_retrieval_eval")
    assert retrieval["queries"] == golden["answerable items"]
    assert retrieval["recall@10"] >= 0.8  # the expected documents are found, as each user
    assert "| fused |" in retrieval["stages"]
    assert "| A1 | alice |" in retrieval["per item"]

    answers = materialization(result, "golden_answer_eval")
    assert answers["acl_leaks"] == 0
    assert answers["citation_validity"] == 1.0
    assert answers["errors"] == 0
    assert "hard rules: pass" in answers["report"]
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == HARD_RULES_CHECK
    assert check.passed


@pytest.mark.slow
def test_a_dangling_golden_reference_fails_the_golden_set_and_names_the_item(demo: Settings) -> None:
    # the full golden set names the status pages, which this corpus did not ingest
    settings = demo.model_copy(
        update={"evaluation": demo.evaluation.model_copy(update={"golden_file": EXAMPLES / "golden.yaml"})}
    )
    [golden_set] = [
        a for a in build_evaluation_assets((), ingest_tail=None) if a.key.to_user_string() == "golden_set"
    ]
    result = dg.materialize(
        [golden_set],
        resources={"groundwork": GroundworkResource.for_settings(settings)},
        raise_on_error=False,
    )
    assert not result.success
    events = str(result.all_events)
    assert "golden set names documents the corpus does not have" in events
    assert "status-pages:http://127.0.0.1:8765/status.html" in events
