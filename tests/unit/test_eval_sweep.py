"""The tuning sweep's rules without an index: tuning splits only, the grid (chunk sizes too), the
settings it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.settings import (
    ChunkingSettings,
    EvaluationDataset,
    FusionMethod,
    RetrievalSettings,
    Settings,
    SweepSettings,
)
from retrieval.evaluation.beir import load_beir
from retrieval.evaluation.metrics import METRICS
from retrieval.evaluation.sweep import (
    SweepResult,
    SweepRow,
    _check_chunk_sizes,
    check_tuning_split,
    current_point,
    recommended_toml,
    run_sweep,
    sweep_points,
)
from retrieval.fusion import Normalization

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "beir_tiny"


def test_a_sweep_refuses_the_test_split_before_indexing_anything() -> None:
    ds = load_beir(TINY, "test")
    with pytest.raises(ConfigurationError, match="refusing to tune on the 'test' split"):
        # no settings, no embedder: the refusal must come before any indexing work
        run_sweep(ds)
    with pytest.raises(ConfigurationError, match="--split train"):
        check_tuning_split("test")
    with pytest.raises(ConfigurationError):
        check_tuning_split("dev", reported=("dev",))
    check_tuning_split("train")
    check_tuning_split("test", force=True)


def test_the_sweep_metric_must_be_a_measured_one() -> None:
    ds = load_beir(TINY, "train")
    with pytest.raises(ConfigurationError, match="not a measured metric"):
        run_sweep(ds, grid=SweepSettings(metric="precision@3"))


def test_the_grid_covers_every_combination_and_the_current_settings() -> None:
    grid = SweepSettings(
        rrf_k=(10, 60),
        dense_weights=(0.4, 0.6),
        normalizations=("minmax",),
        candidates=(50, 100),
        rerankers=("none", "maxsim"),
        per_document_cap=(1, 3),
    )
    base = RetrievalSettings()
    points = sweep_points(grid, base)
    # (2 rrf + 2 weighted) fusions x 2 depths x 2 rerankers x 2 caps; the default settings
    # (weighted w=0.5) are not on the grid, so their point is added
    assert len(points) == 4 * 2 * 2 * 2 + 1
    assert len(set(points)) == len(points)
    assert points[-1] == current_point(base)
    assert points[-1].config.dense_weight == 0.5
    rrf = [p for p in points if p.config.fusion is FusionMethod.RRF]
    assert {p.config.rrf_k for p in rrf} == {10, 60}
    assert {p.config.dense_weight for p in rrf} == {0.5}  # RRF weighs both lists equally
    # the default point is on the default grid: not added twice
    default_points = sweep_points(SweepSettings(), base)
    assert default_points.count(current_point(base)) == 1


def test_a_zscore_point_is_measured_but_not_loadable_while_settings_cannot_say_it() -> None:
    grid = SweepSettings(normalizations=("zscore",), rrf_k=(60,), dense_weights=(0.5,))
    points = sweep_points(grid, RetrievalSettings())
    zscore = [p for p in points if p.config.normalization is Normalization.ZSCORE]
    assert zscore
    expressible = "normalization" in RetrievalSettings.model_fields
    assert all(p.loadable == expressible for p in zscore)
    assert all(p.loadable for p in points if p.config.fusion is FusionMethod.RRF)


def _row(rank: int, *, ndcg: float, current: bool = False, loadable: bool = True, w: float = 0.5) -> SweepRow:
    fields: dict[str, object] = {
        "fusion": "weighted",
        "rrf_k": 60,
        "dense_weight": w,
        "candidates": 100,
        "reranker": "none",
        "rerank_depth": 50,
        "per_document_cap": 2,
    }
    return SweepRow(
        rank=rank,
        label=f"minmax w={w} n=100 none cap=2",
        fusion="weighted",
        rrf_k=60,
        dense_weight=w,
        normalization="minmax",
        candidates=100,
        reranker="none",
        per_document_cap=2,
        metrics=dict.fromkeys(METRICS, ndcg),
        window_recall=0.9,
        window_documents=8.0,
        rank_ms_p50=1.0,
        engine_ms_p50=2.0,
        latency_ms_p50=3.0,
        loadable=loadable,
        current=current,
        retrieval=fields,
    )


def _result(rows: tuple[SweepRow, ...]) -> SweepResult:
    return SweepResult(
        dataset="tiny",
        split="train",
        metric="ndcg@10",
        queries=5,
        documents=10,
        chunks=10,
        rows=rows,
        wall_s=1.0,
        timing={},
        grid={},
        finished_at="2026-11-29 08:00 UTC",
    )


def test_the_recommendation_is_the_best_loadable_point() -> None:
    result = _result(
        (_row(1, ndcg=0.9, loadable=False, w=0.7), _row(2, ndcg=0.8, w=0.6), _row(3, ndcg=0.7, current=True))
    )
    assert result.best.dense_weight == 0.6
    assert result.current is not None
    assert result.current.rank == 3
    table = result.table(1)
    assert "(not loadable)" in table
    assert "(current)" in table  # the current row is always shown
    assert "+0.1000 for the winner" in result.summary()


def test_the_recommended_file_loads_as_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _result((_row(1, ndcg=0.8, w=0.6), _row(2, ndcg=0.7, current=True)))
    path = tmp_path / "recommended.toml"
    path.write_text(recommended_toml(result), encoding="utf-8")
    monkeypatch.setenv("GW_CONFIG_FILE", str(path))
    settings = Settings()
    assert settings.retrieval.dense_weight == 0.6
    assert settings.retrieval.per_document_cap == 2
    assert settings.retrieval.fusion is FusionMethod.WEIGHTED
    assert settings.retrieval == result.recommended_retrieval()


def test_evaluation_datasets_keep_tuning_and_reported_splits_apart(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tune on another split"):
        EvaluationDataset(name="scifact", path=tmp_path, split="test", tuning_split="test")
    ds = EvaluationDataset(name="scifact", path=tmp_path, split="test", tuning_split="train")
    assert ds.sweep_split == "train"
    assert EvaluationDataset(name="adi", path=tmp_path).sweep_split is None
    assert EvaluationDataset(name="adi", path=tmp_path, tuning_set=True).sweep_split == "test"
    with pytest.raises(ValueError, match="at least one value"):
        SweepSettings(candidates=())
    with pytest.raises(ValueError, match="within"):
        SweepSettings(dense_weights=(1.5,))


def test_groundwork_eval_takes_the_recommended_file_as_its_config(tmp_path: Path) -> None:
    from retrieval.evaluation.configs import resolve_config

    result = _result((_row(1, ndcg=0.8, w=0.6), _row(2, ndcg=0.7, current=True)))
    path = tmp_path / "recommended.toml"
    path.write_text(recommended_toml(result), encoding="utf-8")
    config = resolve_config(str(path))  # `groundwork eval --config recommended.toml`
    assert config.fusion is FusionMethod.WEIGHTED
    assert config.dense_weight == 0.6
    assert config.candidates == 100
    assert config.reranker == "none"


def test_chunk_sizes_multiply_the_grid_and_the_default_grid_does_not_rechunk() -> None:
    base, chunking = RetrievalSettings(), ChunkingSettings(max_tokens=256)
    grid = SweepSettings(
        rrf_k=(60,), dense_weights=(0.5,), normalizations=("minmax",), candidates=(100,), rerankers=("none",)
    )
    plain = sweep_points(grid, base, chunking)
    assert {p.chunk_max_tokens for p in plain} == {None}  # default: the current chunking only
    assert all("chunks=" not in p.label for p in plain)
    sized = sweep_points(grid.model_copy(update={"chunk_max_tokens": (128, 64)}), base, chunking)
    # the current size (256) first, then the grid's, each with the whole grid
    assert [p.chunk_max_tokens for p in sized][:: len(plain)] == [256, 128, 64]
    assert len(sized) == 3 * len(plain)
    assert current_point(base, 256) in sized
    assert "chunks=64" in sized[-1].label


def test_chunk_size_settings_are_checked_before_anything_is_indexed() -> None:
    assert SweepSettings(chunk_max_tokens=(64, 64, 128)).chunk_max_tokens == (64, 128)
    with pytest.raises(ValueError, match=">= 16 tokens"):
        SweepSettings(chunk_max_tokens=(8,))
    ds = load_beir(TINY, "train")
    settings = Settings(chunking=ChunkingSettings(max_tokens=256, overlap_tokens=32))
    with pytest.raises(ConfigurationError, match=r"not above chunking\.overlap_tokens"):
        # no embedder, no index: the refusal comes first
        run_sweep(ds, settings=settings, grid=SweepSettings(chunk_max_tokens=(24,)))
    with pytest.raises(ConfigurationError, match="chunks exactly like 512"):
        _check_chunk_sizes([512, 1024], window=256)  # both are the model's 256-token window
    _check_chunk_sizes([None], window=256)
    _check_chunk_sizes([256, 128], window=256)


def test_a_recommended_chunk_size_loads_as_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    best = _row(1, ndcg=0.8, w=0.6).model_copy(
        update={"chunk_max_tokens": 128, "chunking": {"max_tokens": 128, "overlap_tokens": 16}}
    )
    result = _result((best, _row(2, ndcg=0.7, current=True)))
    text = recommended_toml(result)
    assert "[chunking]" in text
    assert "groundwork ingest --full" in text  # a chunk size applies to an index only after a re-chunk
    path = tmp_path / "recommended.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("GW_CONFIG_FILE", str(path))
    settings = Settings()
    assert (settings.chunking.max_tokens, settings.chunking.overlap_tokens) == (128, 16)
    assert settings.chunking == result.recommended_chunking()
    assert settings.retrieval == result.recommended_retrieval()
    # without chunk sizes in the sweep the file has no [chunking] table
    assert "[chunking]" not in recommended_toml(_result((_row(1, ndcg=0.8),)))


def test_groundwork_tune_takes_chunk_sizes_from_the_command_line() -> None:
    from retrieval.evaluation.tune import grid_from

    assert grid_from(SweepSettings(), chunk_sizes="128, 384").chunk_max_tokens == (128, 384)
    assert grid_from(SweepSettings()).chunk_max_tokens == ()  # off unless asked for
    with pytest.raises(ConfigurationError, match="--chunk-sizes"):
        grid_from(SweepSettings(), chunk_sizes="128,big")
