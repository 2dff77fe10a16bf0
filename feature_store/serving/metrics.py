"""Prometheus metrics of the serving endpoint, in a registry of its own (one per app).

With `featurestore serve --workers N` the workers are separate processes: prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by the parent before it spawns them) keeps every
worker's values in files there, and /metrics, whichever worker answers it, adds them all up."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Sub-millisecond buckets: the interesting latencies here are 0.3-10 ms.
_BUCKETS = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "featurestore_serving_requests", "Requests answered, by route template and status code.",
            ["route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "featurestore_serving_request_seconds", "Time spent answering, by route template.",
            ["route"], buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.lookup_misses = Counter(
            "featurestore_serving_lookup_misses", "Entity rows whose key had no online row (defaults used).",
            ["table"], registry=self.registry,
        )  # fmt: skip
        self.errors = Counter(
            "featurestore_serving_errors", "Requests refused or failed, by error code.",
            ["code"], registry=self.registry,
        )  # fmt: skip
        self.model_version = Gauge(
            "featurestore_serving_model_version", "Registry version currently served.",
            ["model"], registry=self.registry, multiprocess_mode="livemostrecent",
        )  # fmt: skip

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def exposition(self) -> bytes:
        if os.environ.get(MULTIPROCESS_METRICS_DIR):
            every_worker = CollectorRegistry()
            MultiProcessCollector(every_worker)
            return generate_latest(every_worker)
        return generate_latest(self.registry)
