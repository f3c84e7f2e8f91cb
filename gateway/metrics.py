"""Prometheus metrics for the gateway, in a registry of its own (one per app, so tests do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.registry import Registry
from tribunal_sdk.client import DetectorOutcome, FanoutClient

_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class GatewayMetrics:
    """Request, detector-call, verdict and breaker metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tribunal_gateway_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "tribunal_gateway_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.detector_calls = Counter(
            "tribunal_gateway_detector_calls_total",
            "Detector calls by outcome status",
            ["detector", "status"],
            registry=self.registry,
        )
        self.detector_latency = Histogram(
            "tribunal_gateway_detector_latency_seconds",
            "Round trip of detector calls that reached the network",
            ["detector"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.verdicts = Counter(
            "tribunal_gateway_verdicts_total",
            "Detection answers by media type, verdict and requested method",
            ["media_type", "verdict", "method"],
            registry=self.registry,
        )
        self.breaker_state = Gauge(
            "tribunal_gateway_breaker_state",
            "Circuit breaker per detector: 0 closed, 1 half-open, 2 open",
            ["detector"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_latency.labels(method, route).observe(seconds)

    def observe_outcome(self, outcome: DetectorOutcome) -> None:
        self.detector_calls.labels(outcome.name, outcome.status.value).inc()
        if outcome.elapsed_ms is not None:
            self.detector_latency.labels(outcome.name).observe(outcome.elapsed_ms / 1000)

    def render(self, registry: Registry, fanout: FanoutClient) -> bytes:
        """The exposition text, with breaker states read at scrape time."""
        for entry in registry.detectors:
            self.breaker_state.labels(entry.name).set(_BREAKER_VALUE[fanout.breaker_state(entry.name)])
        return generate_latest(self.registry)
