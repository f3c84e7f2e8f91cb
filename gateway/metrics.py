"""Prometheus metrics for the gateway, in a registry of its own (one per app, so tests do not collide)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.drift import DriftReport
from gateway.registry import Registry
from tribunal_sdk.client import DetectorOutcome, FanoutClient

_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))  # P(fake) in tenths


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
        # The fused P(fake) of every answer that has one: its shape over time is what drift watches, and
        # a histogram of it is the Grafana panel an operator reads first when verdicts look off.
        self.fused_score = Histogram(
            "tribunal_gateway_fused_score",
            "Fused P(fake) of detection answers, by media type and requested method",
            ["media_type", "method"],
            buckets=_SCORE_BUCKETS,
            registry=self.registry,
        )
        self.breaker_state = Gauge(
            "tribunal_gateway_breaker_state",
            "Circuit breaker per detector: 0 closed, 1 half-open, 2 open",
            ["detector"],
            registry=self.registry,
        )
        # labels() builds and locks on every call; a request makes about a dozen of them, always with the
        # same few label values, so the children are looked up here first (they are never removed).
        self._children: dict[tuple[Hashable, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def watch_drift(self, report: Callable[[], DriftReport]) -> None:
        """Expose the drift monitor's state (gateway/drift.py), read at scrape time."""
        self.registry.register(DriftCollector(report))

    def observe_answer(self, media_type: str, verdict: str, method: str, score_fake: float | None) -> None:
        """One detection answer: its verdict, and its fused score when it has one."""
        self._child(self.verdicts, media_type, verdict, method).inc()
        if score_fake is not None:
            self._child(self.fused_score, media_type, method).observe(score_fake)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self.requests, method, route, str(status)).inc()
        self._child(self.request_latency, method, route).observe(seconds)

    def observe_outcome(self, outcome: DetectorOutcome) -> None:
        self._child(self.detector_calls, outcome.name, outcome.status.value).inc()
        if outcome.elapsed_ms is not None:
            self._child(self.detector_latency, outcome.name).observe(outcome.elapsed_ms / 1000)

    def render(self, registry: Registry, fanout: FanoutClient) -> bytes:
        """The exposition text, with breaker states read at scrape time."""
        for entry in registry.detectors:
            self.breaker_state.labels(entry.name).set(_BREAKER_VALUE[fanout.breaker_state(entry.name)])
        return generate_latest(self.registry)


class DriftCollector(Collector):
    """Drift gauges per stream (``detector`` is an image detector's name, or ``fused:<method>``):
    the PSI against the training reference (NaN until the window holds drift_min_window scores or without
    a reference), 1 while it is drifted, the window's size, and each detector's abstention and error
    shares over its last drift_window calls (NaN before any call)."""

    def __init__(self, report: Callable[[], DriftReport]) -> None:
        self.report = report

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        labelled = {
            "score": "Population Stability Index of the live score window against the training reference",
            "alert": "1 while the stream's drift score is at or over tribunal_gateway_drift_threshold",
            "window_size": "Scores in the stream's live window",
            "abstention_ratio": "Share of the detector's last calls (drift window) it abstained on",
            "error_ratio": "Share of the detector's last calls (drift window) that timed out, failed or were unavailable",
        }
        families = {
            key: GaugeMetricFamily(f"tribunal_gateway_drift_{key}", text, labels=["detector"])
            for key, text in labelled.items()
        }
        families["threshold"] = GaugeMetricFamily(
            "tribunal_gateway_drift_threshold", "Drift score at which a stream counts as drifted"
        )
        return families

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families().values()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        report = self.report()
        families = self._families()
        families["threshold"].add_metric([], report.threshold)
        for stream in [*report.detectors, *report.fused]:
            label = [stream.name]
            families["score"].add_metric(label, _or_nan(stream.statistic))
            families["alert"].add_metric(label, 1.0 if stream.state == "drifted" else 0.0)
            families["window_size"].add_metric(label, stream.window_size)
            if stream.kind == "detector":
                families["abstention_ratio"].add_metric(label, _or_nan(stream.abstention_rate))
                families["error_ratio"].add_metric(label, _or_nan(stream.error_rate))
        yield from families.values()


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value
