"""Freshness: which results are stale, and an optional boost for recent ones.

Each source declares how old its documents may get (``PipelineSettings.sources[*].max_age``);
a result or citation older than that at the moment of the search is flagged ``stale``, never
hidden: an old runbook may still be the only answer, and the agent says it is old.
The optional recency boost blends an exponential decay (``0.5 ** (age / half_life)``) into the
score, for corpora where newer usually means more right (tickets, release notes).

Everything takes an explicit ``as_of`` instant, so evaluation runs and tests are reproducible
(and a search can be replayed "as of" a past date); only the default is "now".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.settings import Settings

DEFAULT_MAX_AGE = timedelta(days=365)
"""For documents of a source not configured here (e.g. an evaluation corpus)."""


def aware(value: datetime) -> datetime:
    """``value`` with a timezone; a naive datetime is taken as UTC (as the stores do)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FreshnessPolicy:
    """Per-source age limits and the optional recency boost.

    ``recency_weight`` is the share of the final score the decay may move (0 disables it,
    like ``half_life=None``); the rest is the previous stage's score, min-max normalized.
    """

    max_age: Mapping[str, timedelta] = field(default_factory=dict)
    default_max_age: timedelta = DEFAULT_MAX_AGE
    half_life: timedelta | None = None
    recency_weight: float = 0.2

    def __post_init__(self) -> None:
        if self.half_life is not None and self.half_life <= timedelta(0):
            raise ValueError("recency half-life must be positive")
        if not 0.0 <= self.recency_weight <= 1.0:
            raise ValueError("recency_weight must be within [0, 1]")

    @classmethod
    def from_settings(cls, settings: Settings) -> FreshnessPolicy:
        days = settings.retrieval.recency_half_life_days
        return cls(
            max_age={s.id: s.max_age for s in settings.pipeline.sources},
            half_life=None if days is None else timedelta(days=days),
        )

    @property
    def boosts(self) -> bool:
        return self.half_life is not None and self.recency_weight > 0

    def limit(self, source_id: str) -> timedelta:
        return self.max_age.get(source_id, self.default_max_age)

    def is_stale(self, source_id: str, updated_at: datetime, as_of: datetime) -> bool:
        """True when the document is older than its source allows at ``as_of``."""
        return aware(as_of) - aware(updated_at) > self.limit(source_id)

    def decay(self, updated_at: datetime, as_of: datetime) -> float:
        """``0.5 ** (age / half_life)`` in (0, 1]; 1 for future-dated or boost-less policies."""
        if self.half_life is None:
            return 1.0
        age = max(aware(as_of) - aware(updated_at), timedelta(0))
        return float(0.5 ** (age / self.half_life))

    def blend(self, normalized_score: float, decay: float) -> float:
        """The freshness stage's score from a [0, 1]-normalized score and the decay."""
        return (1.0 - self.recency_weight) * normalized_score + self.recency_weight * decay


def now() -> datetime:
    return datetime.now(UTC)
