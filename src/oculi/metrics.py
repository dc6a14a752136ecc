"""Prometheus metrics (SPEC §8), held on an injected registry rather than module globals."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """All of oculi's metrics on one registry; pass one instance to every component."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("oculi_requests", "Requests handled", ["surface", "endpoint", "status"], registry=r)
        self.request_latency = Histogram(
            "oculi_request_latency_seconds",
            "Request latency",
            ["surface", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("oculi_queue_depth", "Generations admitted and not finished", registry=r)
        self.inflight_image_bytes = Gauge("oculi_inflight_image_bytes", "Image bytes being processed", registry=r)
        self.inflight_decoded_bytes = Gauge(
            "oculi_inflight_decoded_bytes", "Memory reserved by admitted requests: decoded images and text", registry=r
        )
        self.cache_bytes = Gauge("oculi_cache_bytes", "Bytes held by each in-memory cache", ["cache"], registry=r)
        self.cache_limit_bytes = Gauge(
            "oculi_cache_limit_bytes", "Configured byte limit of each in-memory cache", ["cache"], registry=r
        )
        self.images = Counter("oculi_images", "Images taken in", ["detail", "cache"], registry=r)
        self.tiles = Counter("oculi_image_tiles", "Image views (tiles + thumbnails) produced", registry=r)
        self.image_tokens = Counter("oculi_image_tokens", "Image tokens fed to models", registry=r)
        self.fetch_seconds = Histogram(
            "oculi_image_fetch_seconds", "Image URL fetch time", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.decode_seconds = Histogram(
            "oculi_image_decode_seconds", "Image decode + tiling time", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.prompt_tokens = Counter("oculi_prompt_tokens", "Prompt tokens", ["model"], registry=r)
        self.completion_tokens = Counter("oculi_completion_tokens", "Completion tokens", ["model"], registry=r)
        self.jobs = Gauge(
            "oculi_jobs", "Jobs in the store by kind and state (read at scrape)", ["kind", "state"], registry=r
        )
        self.jobs_finished = Counter("oculi_jobs_finished", "Jobs this replica finished", ["kind", "state"], registry=r)
        self.batches_created = Counter("oculi_batches_created", "Batches created on this replica", registry=r)
        self.batch_requests_added = Counter(
            "oculi_batch_requests_added", "Batch requests queued on this replica", registry=r
        )


def watch_cache(metrics: Metrics, name: str, used: Callable[[], float], limit: float) -> None:
    """Publish a cache's current size (read at scrape time) and its configured limit."""
    metrics.cache_bytes.labels(name).set_function(used)
    metrics.cache_limit_bytes.labels(name).set(limit)
