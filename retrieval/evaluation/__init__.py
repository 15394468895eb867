"""Evaluation harness: BEIR loading, real-index runs, pytrec_eval metrics, the eval CLI."""

from retrieval.evaluation.beir import BeirDataset, load_beir
from retrieval.evaluation.configs import EvalConfig, named_configs, resolve_config
from retrieval.evaluation.metrics import evaluate

__all__ = ["BeirDataset", "EvalConfig", "evaluate", "load_beir", "named_configs", "resolve_config"]
