"""Regression gate: retrieval quality on small fixed sets stays at or above recorded floors.

A quality check, not a timing: the floors are the measured values (docs/benchmarks.md,
"Retrieval quality") minus a small margin for platform noise in floating point. A change that
breaks fusion, chunk-to-document aggregation, ACL filtering or the engines' analysis shows up
here as a drop well beyond the margin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.embedding import Embedder
from retrieval.evaluation.beir import load_beir
from retrieval.evaluation.configs import resolve_config
from retrieval.evaluation.runner import EvalSession

HANDBOOK = Path(__file__).parents[1] / "fixtures" / "retrieval" / "handbook_beir"

# measured: handbook_beir default 0.9304, bm25 0.8761, dense 0.9906
HANDBOOK_FLOORS = {"default": 0.90, "bm25": 0.85, "dense": 0.95}
# measured on ../shared/datasets/adi: default 0.5443, bm25 0.4849, dense 0.4975
ADI_FLOORS = {"default": 0.53, "bm25": 0.47, "dense": 0.48}


def _ndcg(root: Path, embedder: Embedder, tmp_path: Path) -> dict[str, float]:
    ds = load_beir(root)
    with EvalSession(ds, embedder=embedder, workdir=tmp_path) as session:
        return {
            name: session.evaluate(resolve_config(name)).metrics["ndcg@10"]
            for name in ("default", "bm25", "dense")
        }


def test_handbook_fixture_stays_above_its_floor(embedder: Embedder, tmp_path: Path) -> None:
    got = _ndcg(HANDBOOK, embedder, tmp_path)
    for name, floor in HANDBOOK_FLOORS.items():
        assert got[name] >= floor, (name, got)


def test_adi_stays_above_its_floor_and_hybrid_beats_both_engines(
    embedder: Embedder, shared_datasets: Path, tmp_path: Path
) -> None:
    if not (shared_datasets / "adi").is_dir():
        pytest.skip("ADI is not among the shared datasets")
    got = _ndcg(shared_datasets / "adi", embedder, tmp_path)
    for name, floor in ADI_FLOORS.items():
        assert got[name] >= floor, (name, got)
    assert got["default"] > max(got["bm25"], got["dense"]), got
