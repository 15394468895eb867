"""Named retrieval configurations for evaluation, and loading one from a TOML or YAML file.

A configuration says which engines run, how they are fused and what reranks them. The named
ones are the rows of docs/benchmarks.md; ``default`` is built from :class:`RetrievalSettings`'
defaults, so it always measures what ships. A file holds the same fields (``base = "<name>"``
starts from a named configuration and overrides the rest)::

    base = "hybrid-weighted"
    dense_weight = 0.6
    reranker = "maxsim:0.4"
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigurationError
from core.settings import FusionMethod, RetrievalSettings
from retrieval.fusion import Normalization

DEFAULT_NORMALIZATION = Normalization.MINMAX
"""Normalization for weighted fusion (measured: docs/benchmarks.md)."""

REFERENCE_DEPTH = 1000
"""Single-engine runs retrieve as deep as the reference BM25 runs (top-1000)."""


class Engines(StrEnum):
    BM25 = "bm25"
    DENSE = "dense"
    HYBRID = "hybrid"


class EvalConfig(BaseModel):
    """One retrieval configuration to evaluate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    engines: Engines = Engines.HYBRID
    fusion: FusionMethod = FusionMethod.WEIGHTED
    normalization: Normalization = DEFAULT_NORMALIZATION
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(0.5, ge=0.0, le=1.0)
    reranker: str = "none"
    rerank_depth: int = Field(50, ge=1, le=1000)
    candidates: int = Field(100, ge=10, le=1000, description="chunks per engine")

    def retrieval_settings(self) -> RetrievalSettings:
        return RetrievalSettings(
            candidates=self.candidates,
            fusion=self.fusion,
            rrf_k=self.rrf_k,
            dense_weight=self.dense_weight,
            reranker=self.reranker,
            rerank_depth=self.rerank_depth,
        )


def default_config() -> EvalConfig:
    """What ships: RetrievalSettings' defaults."""
    s = RetrievalSettings()
    return EvalConfig(
        name="default",
        fusion=s.fusion,
        rrf_k=s.rrf_k,
        dense_weight=s.dense_weight,
        reranker=s.reranker,
        rerank_depth=s.rerank_depth,
        candidates=s.candidates,
    )


def named_configs() -> dict[str, EvalConfig]:
    d = default_config()
    hybrid = d.model_copy(update={"name": "hybrid-weighted", "reranker": "none"})
    return {
        "bm25": EvalConfig(name="bm25", engines=Engines.BM25, candidates=REFERENCE_DEPTH),
        "dense": EvalConfig(name="dense", engines=Engines.DENSE, candidates=REFERENCE_DEPTH),
        "hybrid-rrf": hybrid.model_copy(
            update={"name": "hybrid-rrf", "fusion": FusionMethod.RRF, "dense_weight": 0.5}
        ),
        "hybrid-weighted": hybrid,
        "hybrid-zscore": hybrid.model_copy(
            update={"name": "hybrid-zscore", "normalization": Normalization.ZSCORE}
        ),
        "hybrid+maxsim": hybrid.model_copy(update={"name": "hybrid+maxsim", "reranker": "maxsim"}),
        "hybrid+linear": hybrid.model_copy(update={"name": "hybrid+linear", "reranker": "linear"}),
        "default": d,
    }


def _from_mapping(data: dict[str, Any], fallback_name: str) -> EvalConfig:
    data = dict(data)
    base_name = data.pop("base", None)
    configs = named_configs()
    if base_name is not None:
        if base_name not in configs:
            raise ConfigurationError(
                f"unknown base configuration {base_name!r} (known: {', '.join(configs)})"
            )
        merged = {**configs[base_name].model_dump(), "name": fallback_name, **data}
    else:
        merged = {"name": fallback_name, **data}
    try:
        return EvalConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid evaluation configuration {fallback_name!r}: {exc}") from None


def _from_retrieval_table(table: dict[str, Any], name: str) -> EvalConfig:
    """What the service runs with these ``[retrieval]`` settings (min-max weighted fusion)."""
    try:
        s = RetrievalSettings.model_validate(table)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid [retrieval] settings in {name!r}: {exc}") from None
    return EvalConfig(
        name=name,
        fusion=s.fusion,
        rrf_k=s.rrf_k,
        dense_weight=s.dense_weight,
        reranker=s.reranker,
        rerank_depth=s.rerank_depth,
        candidates=max(s.candidates, 10),
    )


def resolve_config(spec: str) -> EvalConfig:
    """A named configuration, ``hybrid+<reranker spec>``, or a .toml/.yaml/.yml file."""
    configs = named_configs()
    if spec in configs:
        return configs[spec]
    path = Path(spec)
    if path.suffix in (".toml", ".yaml", ".yml"):
        if not path.is_file():
            raise ConfigurationError(f"configuration file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ConfigurationError(f"{path}: expected a table of configuration fields")
        if isinstance(data.get("retrieval"), dict):
            # a settings file (e.g. `groundwork tune`'s recommendation): its [retrieval] table
            return _from_retrieval_table(data["retrieval"], path.stem)
        return _from_mapping(data, str(data.get("name", path.stem)))
    if spec.startswith("hybrid+"):
        return configs["hybrid-weighted"].model_copy(
            update={"name": spec, "reranker": spec[len("hybrid+") :]}
        )
    raise ConfigurationError(
        f"unknown configuration {spec!r}: use one of {', '.join(configs)}, "
        "'hybrid+<reranker>', or a .toml/.yaml file"
    )
