"""Freshness: stale flags per source at an explicit as_of, and the recency decay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.settings import FolderSource, PipelineSettings, RetrievalSettings, Settings
from retrieval.freshness import FreshnessPolicy

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)


def test_stale_uses_each_sources_max_age() -> None:
    policy = FreshnessPolicy(max_age={"tickets": timedelta(days=30)}, default_max_age=timedelta(days=365))
    assert policy.is_stale("tickets", AS_OF - timedelta(days=31), AS_OF)
    assert not policy.is_stale("tickets", AS_OF - timedelta(days=29), AS_OF)
    assert not policy.is_stale("handbook", AS_OF - timedelta(days=300), AS_OF)
    assert policy.is_stale("handbook", AS_OF - timedelta(days=366), AS_OF)


def test_naive_datetimes_are_utc() -> None:
    policy = FreshnessPolicy(max_age={"s": timedelta(days=1)})
    assert policy.is_stale("s", datetime(2024, 12, 30), AS_OF)


def test_decay_halves_every_half_life() -> None:
    policy = FreshnessPolicy(half_life=timedelta(days=10))
    assert policy.decay(AS_OF, AS_OF) == pytest.approx(1.0)
    assert policy.decay(AS_OF - timedelta(days=10), AS_OF) == pytest.approx(0.5)
    assert policy.decay(AS_OF - timedelta(days=20), AS_OF) == pytest.approx(0.25)
    assert policy.decay(AS_OF + timedelta(days=5), AS_OF) == pytest.approx(1.0)  # future-dated
    assert FreshnessPolicy().decay(AS_OF - timedelta(days=999), AS_OF) == 1.0


def test_from_settings_reads_sources_and_half_life(tmp_path: object) -> None:
    settings = Settings(
        pipeline=PipelineSettings(
            sources=(FolderSource(id="handbook", path="/tmp", max_age=timedelta(days=90)),)
        ),
        retrieval=RetrievalSettings(recency_half_life_days=14),
    )
    policy = FreshnessPolicy.from_settings(settings)
    assert policy.limit("handbook") == timedelta(days=90)
    assert policy.half_life == timedelta(days=14)
    assert policy.boosts


def test_invalid_policy() -> None:
    with pytest.raises(ValueError, match="half-life"):
        FreshnessPolicy(half_life=timedelta(0))
    with pytest.raises(ValueError, match="recency_weight"):
        FreshnessPolicy(recency_weight=2.0)
