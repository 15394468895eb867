"""Evaluation as Dagster assets: datasets, retrieval and answer quality, and the tuning sweep."""

from pipelines.evaluation.assets import (
    EVAL_GROUP,
    HARD_RULES_CHECK,
    SWEEP_ASSET,
    build_evaluation_assets,
    evaluation_datasets,
)

__all__ = ["EVAL_GROUP", "HARD_RULES_CHECK", "SWEEP_ASSET", "build_evaluation_assets", "evaluation_datasets"]
