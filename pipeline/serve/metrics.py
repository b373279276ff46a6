"""Prometheus metrics of the server: requests, latency, batch sizes, fallbacks and hand-offs (one registry per app)."""
from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("support_requests", "HTTP requests.", ["method", "path", "status"], registry=self.registry)
        self.latency = Histogram("support_request_seconds", "HTTP request latency.", ["path"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0))
        self.batch_size = Histogram("support_batch_messages", "Messages per pipeline call.", registry=self.registry,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128))
        self.fallbacks = Counter("support_fallbacks", "Replies that are not generated policy answers, by reason.",
                                 ["reason"], registry=self.registry)
        self.handoffs = Counter("support_handoffs", "Conversations handed to a person.", registry=self.registry)

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        self.requests.labels(method, path, str(status)).inc()
        self.latency.labels(path).observe(seconds)

    def count_turn(self, turn: Any) -> None:
        if turn.reply is not None and turn.reply.fallback:
            self.fallbacks.labels(turn.reply.fallback).inc()
        if turn.route == "handoff":
            self.handoffs.inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
