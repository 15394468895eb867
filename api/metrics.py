"""Prometheus metrics of one app, in the app's own registry (no import-time globals).

Labels use the route *template* (``/v1/chunks/{chunk_id}``), never the raw path, so ids never
become label values and cardinality stays fixed. Nothing here counts documents or chunks:
an aggregate count of the index would count documents some callers may not read.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "groundwork_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "groundwork_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "groundwork_answers",
            "Answers by outcome (answered, refused)",
            ["outcome"],
            registry=self.registry,
        )
        self.degraded = Counter(
            "groundwork_degraded_responses",
            "Responses served with one engine down",
            ["endpoint"],
            registry=self.registry,
        )
        self.backend_up = Gauge(
            "groundwork_backend_up",
            "1 if the backend answered the last readiness probe",
            ["backend"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "groundwork_rate_limited",
            "Requests refused by the per-principal rate limit",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
