"""Prometheus metrics of one detector service (its own registry, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServiceMetrics:
    def __init__(self, detector: str):
        self.registry = CollectorRegistry()
        labels = {"detector": detector}
        self.requests = Counter(
            "tribunal_detector_requests",
            "Predict requests by HTTP status",
            ["detector", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tribunal_detector_request_seconds",
            "Predict request latency, decode to answer",
            ["detector"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        self.inference = Histogram(
            "tribunal_detector_batch_seconds",
            "Time of one predict_batch call",
            ["detector"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        self.batch_size = Histogram(
            "tribunal_detector_batch_size",
            "Items per predict_batch call",
            ["detector"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        self.queue_depth = Gauge(
            "tribunal_detector_queue_depth", "Items waiting for a batch", ["detector"], registry=self.registry
        ).labels(**labels)
        self.ready = Gauge(
            "tribunal_detector_ready", "1 when the model is loaded", ["detector"], registry=self.registry
        ).labels(**labels)
        self.memory_in_use = Gauge(
            "tribunal_detector_memory_budget_in_use_bytes",
            "Decoded-image bytes admitted by the memory budget and not yet released",
            ["detector"],
            registry=self.registry,
        ).labels(**labels)
        self.memory_waiting = Gauge(
            "tribunal_detector_memory_budget_waiting",
            "Requests queued for room in the memory budget",
            ["detector"],
            registry=self.registry,
        ).labels(**labels)
        self._detector = detector

    def count_request(self, status: int) -> None:
        self.requests.labels(detector=self._detector, status=str(status)).inc()

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
