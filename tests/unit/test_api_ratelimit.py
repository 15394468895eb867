"""Per-principal token buckets."""

from __future__ import annotations

import pytest

from api.ratelimit import TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_refill_per_principal() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(60, clock=clock)  # one token a second, bursts of 60
    assert all(limiter.acquire("alice") is None for _ in range(60))
    wait = limiter.acquire("alice")
    assert wait == pytest.approx(1.0)
    assert limiter.acquire("bob") is None  # buckets are per principal
    clock.t += 0.5
    assert limiter.acquire("alice") == pytest.approx(0.5)
    clock.t += 0.5
    assert limiter.acquire("alice") is None


def test_retry_after_is_a_whole_positive_number_of_seconds() -> None:
    assert TokenBucketLimiter.retry_after_header(0.01) == "1"
    assert TokenBucketLimiter.retry_after_header(2.3) == "3"


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate_per_minute"):
        TokenBucketLimiter(0)
