"""One settings model for every layer, composed of per-layer sections.

Precedence (highest first): keyword arguments, environment (``GW_`` prefix, ``__`` between
section and field, e.g. ``GW_BACKEND__MODE=server``), the settings file (TOML or YAML, path from
``GW_CONFIG_FILE``), defaults. Contradictory settings are refused with a message that says what
to change.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from core.acl import normalize_acl
from core.errors import ConfigurationError

PACKAGED_MINILM = "all-MiniLM-L6-v2"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "groundwork"
_SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}$")


class BackendMode(StrEnum):
    EMBEDDED = "embedded"
    SERVER = "server"


class BackendSettings(BaseModel):
    """Where vectors and keywords live: embedded engines on disk, or servers."""

    model_config = ConfigDict(extra="forbid")

    mode: BackendMode = BackendMode.EMBEDDED
    data_dir: Path = Field(Path("var"), description="embedded engines, pointer files, app state")
    index_name: str = Field("groundwork", pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    qdrant_url: str | None = Field(None, description="http(s)://host:6333, or ':memory:' for tests")
    qdrant_api_key: str | None = None
    opensearch_url: str | None = None
    opensearch_user: str | None = None
    opensearch_password: str | None = None
    opensearch_verify_certs: bool = True
    timeout_s: float = Field(5.0, gt=0, le=120)
    keep_generations: int = Field(2, ge=1, description="live + this many older ones for rollback")

    @model_validator(mode="after")
    def _server_needs_urls(self) -> BackendSettings:
        if self.mode is BackendMode.SERVER:
            missing = [
                f"GW_BACKEND__{name.upper()}"
                for name in ("qdrant_url", "opensearch_url")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(
                    "backend.mode is 'server' but "
                    + " and ".join(missing)
                    + " is not set: set it, or use GW_BACKEND__MODE=embedded"
                )
        if (self.opensearch_user is None) != (self.opensearch_password is None):
            raise ValueError(
                "set both GW_BACKEND__OPENSEARCH_USER and GW_BACKEND__OPENSEARCH_PASSWORD, or neither"
            )
        return self


class EmbeddingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        PACKAGED_MINILM,
        description="'all-MiniLM-L6-v2' (packaged, offline), a local path, or a hub name",
    )
    device: str = "cpu"
    batch_size: int = Field(64, ge=1, le=4096)
    cache_dir: Path = Field(DEFAULT_CACHE / "embeddings", description="model id + text hash cache")
    allow_download: bool = Field(False, description="let sentence-transformers fetch from a hub")


class FusionMethod(StrEnum):
    RRF = "rrf"
    WEIGHTED = "weighted"


class FusionNormalization(StrEnum):
    """How weighted fusion puts BM25 and cosine scores on one scale (retrieval.fusion)."""

    MINMAX = "minmax"
    ZSCORE = "zscore"


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(10, ge=1, le=100)
    candidates: int = Field(100, ge=1, le=1000, description="BM25 and dense depth before fusion")
    fusion: FusionMethod = FusionMethod.WEIGHTED
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(0.5, ge=0.0, le=1.0, description="weighted fusion; BM25 gets 1-w")
    normalization: FusionNormalization = Field(
        FusionNormalization.MINMAX, description="weighted fusion: 'minmax' or 'zscore' per list"
    )
    reranker: str = Field(
        "none",
        description="'none', 'maxsim[:weight]', 'linear[:weights.json]', 'evidence[:weights.json]' "
        "(best-sentence BM25 + stage features, docs/benchmarks.md), or a CrossEncoder path/name",
    )
    rerank_depth: int = Field(50, ge=1, le=1000)
    per_document_cap: int = Field(3, ge=1)
    recency_half_life_days: float | None = Field(None, gt=0, description="None disables the boost")
    min_evidence_score: float = Field(
        0.46,
        ge=0.0,
        le=1.0,
        description="the agent refuses a part whose best evidence sentence scores below this "
        "(calibrated on SciFact train, as retrieval.grounding.CALIBRATED_MIN_EVIDENCE_SCORE)",
    )

    @model_validator(mode="after")
    def _depths(self) -> RetrievalSettings:
        if self.top_k > self.candidates:
            raise ValueError(
                f"retrieval.top_k ({self.top_k}) exceeds retrieval.candidates ({self.candidates}): "
                "raise GW_RETRIEVAL__CANDIDATES or lower GW_RETRIEVAL__TOP_K"
            )
        return self


class ChunkingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(256, ge=16, description="bounded by the embedding model's max length")
    overlap_tokens: int = Field(32, ge=0)

    @model_validator(mode="after")
    def _overlap(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError(
                f"chunking.overlap_tokens ({self.overlap_tokens}) must be smaller than "
                f"chunking.max_tokens ({self.max_tokens})"
            )
        return self


class _SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    max_age: timedelta = Field(timedelta(days=365), description="older documents are stale")
    schedule: str = Field("0 3 * * *", description="cron for re-indexing")
    default_acl: tuple[str, ...] = Field((), description="used when nothing more specific is set")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _SOURCE_ID.match(v):
            raise ValueError(f"source id {v!r}: use lowercase letters, digits, '_' or '-'")
        return v

    @field_validator("default_acl", mode="before")
    @classmethod
    def _acl(cls, v: Any) -> tuple[str, ...]:
        return normalize_acl(v or ())

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError(f"schedule {v!r} is not a 5-field cron expression")
        return v


class FolderSource(_SourceBase):
    kind: Literal["folder"] = "folder"
    path: Path
    include: tuple[str, ...] = (
        "**/*.md",
        "**/*.html",
        "**/*.htm",
        "**/*.txt",
        "**/*.pdf",
        "**/*.docx",
    )
    exclude: tuple[str, ...] = ()


class WebSource(_SourceBase):
    kind: Literal["web"] = "web"
    urls: tuple[str, ...] = Field(min_length=1)
    timeout_s: float = Field(10.0, gt=0, le=120)

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for u in v:
            if not u.startswith(("http://", "https://")):
                raise ValueError(f"web source url {u!r} must start with http:// or https://")
        return v


class TicketSource(_SourceBase):
    kind: Literal["tickets"] = "tickets"
    path: Path = Field(description="JSONL export: one ticket per line")


SourceConfig = Annotated[FolderSource | WebSource | TicketSource, Field(discriminator="kind")]


class PipelineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_delete_share: float = Field(0.5, ge=0.0, le=1.0)
    embed_sentences: bool = Field(
        True,
        description="also embed the sentences of new/changed chunks at ingest (into the cache), "
        "so the agent and the max-similarity reranker do not embed them at question time",
    )
    sources: tuple[SourceConfig, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> PipelineSettings:
        seen: set[str] = set()
        for s in self.sources:
            if s.id in seen:
                raise ValueError(f"two sources share the id {s.id!r}: source ids must be unique")
            seen.add(s.id)
        return self


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    users_file: Path | None = Field(None, description="YAML: api key hashes -> principals")
    max_question_chars: int = Field(2000, ge=16)
    max_top_k: int = Field(50, ge=1)
    rate_limit_per_minute: int = Field(120, ge=1)
    store_questions: bool = Field(True, description="False keeps only a hash in the audit log")
    audit_db_url: str | None = Field(None, description="default: sqlite in backend.data_dir")
    torch_threads: int | None = Field(
        1,
        ge=1,
        description="CPU threads torch may use in the `groundwork serve` process (None: one per core)",
    )


class AgentSettings(BaseModel):
    """The agent loop's budgets and which reasoner answers (``GW_AGENT__MAX_STEPS=12``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reasoner: Literal["extractive", "openai"] = Field(
        "extractive",
        description="'extractive' (deterministic, no model) or 'openai' (any compatible endpoint)",
    )
    max_steps: int = Field(10, ge=2, le=50, description="tool calls per question, the plan included")
    max_seconds: float = Field(20.0, gt=0, le=300, description="wall-clock budget of one question")
    max_evidence_passages: int = Field(40, ge=1, le=500, description="passages the agent may read")
    max_parts: int = Field(4, ge=1, le=10, description="parts a multi-part question is split into")
    max_answer_sentences: int = Field(6, ge=1, le=30)
    sentences_per_part: int = Field(2, ge=1, le=10)
    open_window_chars: int = Field(800, ge=0, le=20_000, description="context around an opened chunk")
    openai_base_url: str | None = Field(
        None, description="e.g. http://127.0.0.1:8080 (vLLM, llama.cpp, Ollama)"
    )
    openai_model: str | None = None
    openai_api_key: str | None = None
    openai_timeout_s: float = Field(30.0, gt=0, le=600)
    openai_max_tokens: int = Field(512, ge=16, le=8192)

    @model_validator(mode="after")
    def _openai_needs_endpoint(self) -> AgentSettings:
        if self.reasoner == "openai" and not (self.openai_base_url and self.openai_model):
            raise ValueError(
                "agent.reasoner is 'openai' but GW_AGENT__OPENAI_BASE_URL and GW_AGENT__OPENAI_MODEL "
                "are not both set: set them, or use GW_AGENT__REASONER=extractive"
            )
        return self


class EvaluationDataset(BaseModel):
    """A BEIR-layout folder (corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv) to evaluate on."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")
    path: Path
    split: str = Field("test", description="the split reported as the figure")
    tuning_split: str | None = Field(None, description="the split sweeps tune on (never the test split)")
    tuning_set: bool = Field(
        False,
        description="a set whose figures are never reported (the small sets): the sweep may tune on "
        "its `split`",
    )

    @model_validator(mode="after")
    def _tuning_is_not_reported(self) -> EvaluationDataset:
        if self.tuning_split is not None and self.tuning_split == self.split and not self.tuning_set:
            raise ValueError(
                f"evaluation dataset {self.name!r}: tuning_split and split are both {self.split!r}; "
                "tune on another split (e.g. train) than the one you report, or mark a set whose "
                "figures you never report with tuning_set = true"
            )
        return self

    @property
    def sweep_split(self) -> str | None:
        """The split the tuning sweep may use (``None``: this dataset is not tuned on)."""
        if self.tuning_split is not None:
            return self.tuning_split
        return self.split if self.tuning_set else None


class SweepSettings(BaseModel):
    """The tuning sweep's grid (``groundwork tune``, the ``tuning_sweep`` asset).

    Every combination of fusion variant x candidate depth x reranker x per-document cap is
    evaluated on a tuning split; engine lists are fetched once at the deepest depth and replayed.
    ``chunk_max_tokens`` adds chunk sizes, each a re-chunked and re-indexed copy of the corpus.
    """

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(
        "ndcg@10", description="what ranks the configurations (ndcg@10, recall@100, mrr@10, map)"
    )
    rrf_k: tuple[int, ...] = Field((10, 30, 60, 100), description="reciprocal rank fusion k values")
    dense_weights: tuple[float, ...] = Field(
        (0.3, 0.4, 0.5, 0.6, 0.7), description="weighted fusion: the dense share (BM25 gets 1-w)"
    )
    normalizations: tuple[Literal["minmax", "zscore"], ...] = Field(
        ("minmax", "zscore"), description="score normalizations tried with weighted fusion"
    )
    candidates: tuple[int, ...] = Field((50, 100, 200), description="chunks per engine before fusion")
    rerankers: tuple[str, ...] = Field(("none", "maxsim"), description="retrieval.reranker values")
    per_document_cap: tuple[int, ...] = Field((1, 2, 3), description="retrieval.per_document_cap values")
    chunk_max_tokens: tuple[int, ...] = Field(
        (),
        description="chunking.max_tokens values, each swept with the whole grid beside the current one: "
        "each size re-chunks and re-indexes the tuning corpus and embeds its new chunks (cached); "
        "empty (the default): only the current chunking, no re-chunk and no new embeddings",
    )

    @field_validator("chunk_max_tokens")
    @classmethod
    def _chunk_sizes(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(x < 16 for x in v):
            raise ValueError("chunk sizes must be >= 16 tokens (the chunking.max_tokens minimum)")
        return tuple(dict.fromkeys(v))

    @field_validator("rrf_k", "candidates", "per_document_cap")
    @classmethod
    def _positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(x < 1 for x in v):
            raise ValueError("give at least one value, each >= 1")
        return v

    @field_validator("dense_weights")
    @classmethod
    def _weights(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= w <= 1.0 for w in v):
            raise ValueError("dense weights must lie within [0, 1]")
        return v

    @field_validator("rerankers")
    @classmethod
    def _rerankers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("give at least one reranker ('none' for no reranking)")
        return v


class GateSettings(BaseModel):
    """Eval-gated promotion: a candidate generation must not be worse than the live one."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="evaluate each new generation before it goes live")
    metric: str = Field(
        "ndcg_cut_10",
        description="the retrieval metric compared with the live generation: ndcg_cut_10 (ndcg@10), "
        "recall_10 (recall@10), recall_100 (recall@100), recip_rank (mrr@10) or map",
    )
    tolerance: float = Field(0.02, ge=0.0, le=1.0, description="largest allowed drop of the metric")
    require_golden: bool = Field(
        False,
        description="block promotion when no golden set is configured (default: promote, "
        "reported as 'not gated')",
    )
    override_hard_rules: bool = Field(
        False,
        description="let --allow-regression also override the answer-level hard rules (citation "
        "validity 1.00, no ACL leak); by default it overrides only the retrieval-metric rule",
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        known = ("ndcg_cut_10", "recall_10", "recall_100", "recip_rank", "map")
        aliases = {"ndcg@10": "ndcg_cut_10", "recall@10": "recall_10", "recall@100": "recall_100"}
        aliases["mrr@10"] = "recip_rank"
        name = aliases.get(v, v)
        if name not in known:
            raise ValueError(f"evaluation.gate.metric {v!r} is not one of: {', '.join(known)}")
        return name


class EvaluationSettings(BaseModel):
    """Evaluation assets: public datasets, the golden set, the tuning sweep and the promotion gate."""

    model_config = ConfigDict(extra="forbid")

    datasets: tuple[EvaluationDataset, ...] = ()
    golden_file: Path | None = Field(None, description="golden questions (YAML) for the indexed corpus")
    sweep: SweepSettings = SweepSettings()
    gate: GateSettings = GateSettings()


class Settings(BaseSettings):
    """All of Groundwork's settings."""

    model_config = SettingsConfigDict(
        env_prefix="GW_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    backend: BackendSettings = BackendSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    pipeline: PipelineSettings = PipelineSettings()
    api: ApiSettings = ApiSettings()
    agent: AgentSettings = AgentSettings()
    evaluation: EvaluationSettings = EvaluationSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("GW_CONFIG_FILE")
        if path:
            file = Path(path)
            if not file.is_file():
                raise ConfigurationError(f"GW_CONFIG_FILE points at {file}, which is not a file")
            if file.suffix == ".toml":
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=file))
            elif file.suffix in (".yaml", ".yml"):
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=file))
            else:
                raise ConfigurationError(f"GW_CONFIG_FILE {file}: use a .toml, .yaml or .yml file")
        return tuple(sources)

    @model_validator(mode="after")
    def _cross_section(self) -> Settings:
        if self.retrieval.top_k > self.api.max_top_k:
            raise ValueError(
                f"retrieval.top_k ({self.retrieval.top_k}) exceeds api.max_top_k "
                f"({self.api.max_top_k}): lower one or raise the other"
            )
        return self

    def source(self, source_id: str) -> FolderSource | WebSource | TicketSource:
        for s in self.pipeline.sources:
            if s.id == source_id:
                return s
        known = ", ".join(s.id for s in self.pipeline.sources) or "none configured"
        raise ConfigurationError(f"unknown source {source_id!r} (known: {known})")


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable ConfigurationError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {where}: {msg}")
        raise ConfigurationError("invalid Groundwork settings:\n" + "\n".join(lines)) from None
