"""The Prometheus metrics of the nameko side of a service (events relayed,
handled and dead-lettered, outbox lag, entrypoint durations, errors and
expired requests) and :class:`EntrypointMetrics`, which times every
entrypoint."""
from __future__ import annotations

import time

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge, Histogram

from kernel import correlation

EVENTS_PUBLISHED = Counter("ejournal_events_published_total", "Events relayed from the outbox", ["service", "type"])
EVENTS_HANDLED = Counter("ejournal_events_handled_total", "Events handled", ["consumer", "result"])
DEAD_LETTERS = Counter("ejournal_dead_letters_total", "Events moved to the dead-letter queue", ["consumer"])
OUTBOX_LAG = Histogram("ejournal_outbox_lag_seconds", "Time from outbox write to broker confirm", ["service"])
OUTBOX_OLDEST = Gauge("ejournal_outbox_oldest_unsent_seconds",
                      "Age of the oldest outbox row the broker has not confirmed (0: none)", ["service"])
RPC_SECONDS = Histogram("ejournal_entrypoint_seconds", "Entrypoint duration", ["service", "entrypoint"])
RPC_ERRORS = Counter("ejournal_entrypoint_errors_total", "Entrypoints that raised", ["service", "entrypoint", "error"])
RPC_EXPIRED = Counter("ejournal_rpc_expired_total", "RPC requests not started: their caller's deadline had passed",
                      ["service", "method"])


class EntrypointMetrics(DependencyProvider):
    """Times every entrypoint and counts errors; sets the correlation id."""

    def worker_setup(self, worker_ctx):
        worker_ctx.data.setdefault("correlation_id", worker_ctx.data.get("correlation_id"))
        correlation.set(worker_ctx.data.get("correlation_id"))
        worker_ctx.data["_started"] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        name = worker_ctx.entrypoint.method_name
        service = worker_ctx.container.service_name
        started = worker_ctx.data.get("_started")
        if started is not None:
            RPC_SECONDS.labels(service, name).observe(time.perf_counter() - started)
        if exc_info is not None:
            RPC_ERRORS.labels(service, name, exc_info[0].__name__).inc()
