"""How every store writes ``updated_at``: UTC, exact to the microsecond.

The stores filter on ``updated_at`` ranges and must agree at the bounds, so they share these
conversions: Qdrant payloads hold RFC 3339 strings with microseconds; tantivy and OpenSearch
filter on integer microseconds since the epoch (tantivy dates keep seconds by default,
OpenSearch ``date`` keeps milliseconds). A naive datetime is taken as UTC everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch (naive = UTC): exact integers for range filters."""
    return (as_utc(value) - _EPOCH) // _MICROSECOND


def rfc3339(moment: datetime) -> str:
    """UTC RFC 3339 with microseconds (what Qdrant's datetime payload index parses)."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
